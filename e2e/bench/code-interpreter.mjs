// Code-interpreter benchmark with the real @e2b/code-interpreter SDK (non-debug, header routing):
//  - create → first runCode("1+1") from the warm pool (the template's pool refills between creates);
//  - runCode("1+1") round trip on a running sandbox, and the same request made inside the sandbox
//    (Node in the sandbox → 127.0.0.1:49999): the difference is the portal's share (its proxy, the
//    envd tunnel) plus the SDK's own work;
//  - a 10 MB stdout stream's throughput;
//  - recovery: the kernel, then the server, killed with kill -9 until runCode answers again.
// Env: PORTAL_URL, E2B_API_KEY, PORTAL_DATA_DIR (to see the warm pool refilled), BENCH_N (creates,
// default 10). Prints one line per measurement.
import { Sandbox } from '@e2b/code-interpreter';

const url = process.env.PORTAL_URL;
const opts = { apiKey: process.env.E2B_API_KEY, apiUrl: url, sandboxUrl: url };
const N = Number(process.env.BENCH_N ?? 10);
const GAP = Number(process.env.BENCH_GAP_MS ?? 8000);
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const report = (what, xs) => console.log(`${what}: p50 ${pct(xs, 0.5).toFixed(1)} ms, p90 ${pct(xs, 0.9).toFixed(1)} ms (n=${xs.length})`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the template's warm pool holds a ready sandbox: one of this template (its
 * sandbox.json; other templates have pools too) whose envd says the start
 * command is ready (the runtime queues it right then). Needs the portal's data dir
 * (PORTAL_DATA_DIR, set by scripts/bench-portal.sh); without it, waits BENCH_GAP_MS.
 */
async function poolReady() {
  const dir = process.env.PORTAL_DATA_DIR;
  if (!dir) return sleep(GAP);
  const { readdirSync, readFileSync } = await import('node:fs');
  const ours = (w) => { try { return JSON.parse(readFileSync(`${dir}/sandboxes/${w}/sandbox.json`, 'utf8')).templateId === 'code-interpreter'; } catch { return false; } };
  const http = await import('node:http');
  const ready = (socketPath) => new Promise((resolve) => {
    http.get({ socketPath, path: '/_portal/ready' }, (res) => { res.resume(); resolve(res.statusCode === 204); }).on('error', () => resolve(false));
  });
  for (let i = 0; i < 1200; i++) {
    const warm = readdirSync(`${dir}/sandboxes`).filter((d) => d.startsWith('warm') && ours(d));
    for (const w of warm) if (await ready(`${dir}/sandboxes/${w}/run/envd.sock`)) { await sleep(200); return; }
    await sleep(100);
  }
  throw new Error('the warm pool did not refill within 2 minutes');
}

await poolReady();
const createOnly = [], firstRun = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const sbx = await Sandbox.create('code-interpreter-v1', opts);
  const t1 = performance.now();
  const r = await sbx.runCode('1+1');
  const t2 = performance.now();
  if (r.text !== '2') throw new Error(`1+1 gave ${r.text}`);
  createOnly.push(t1 - t0);
  firstRun.push(t2 - t0);
  await sbx.kill();
  await poolReady();
}
report('Sandbox.create("code-interpreter-v1") from the warm pool', createOnly);
report('create → first runCode("1+1") done', firstRun);

const sbx = await Sandbox.create('code-interpreter-v1', opts);
try {
  for (let i = 0; i < 20; i++) await sbx.runCode('1+1'); // warm-up
  const viaPortal = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    await sbx.runCode('1+1');
    viaPortal.push(performance.now() - s);
  }
  report('runCode("1+1") round trip through the portal', viaPortal);

  // The same POST /execute from inside the sandbox, read to the end (Node 18's fetch).
  const inside = `
    const xs = [];
    const body = JSON.stringify({ code: '1+1' });
    for (let i = 0; i < 220; i++) {
      const s = performance.now();
      const res = await fetch('http://127.0.0.1:49999/execute', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
      await res.text();
      if (i >= 20) xs.push(performance.now() - s);
    }
    xs.sort((a, b) => a - b);
    console.log(JSON.stringify({ p50: xs[Math.floor(xs.length / 2)], p90: xs[Math.floor(xs.length * 0.9)] }));`;
  await sbx.files.write('/tmp/bench-inside.mjs', inside);
  const out = await sbx.commands.run('node /tmp/bench-inside.mjs', { timeoutMs: 120_000 });
  const { p50, p90 } = JSON.parse(out.stdout);
  console.log(`runCode("1+1") round trip inside the sandbox (no portal): p50 ${p50.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms (n=200)`);
  console.log(`the portal's share (and the SDK's) of the p50: ${(pct(viaPortal, 0.5) - p50).toFixed(1)} ms`);

  // 10 MB of stdout: 10,240 lines of 1 KiB, counted as the SDK delivers them.
  const runs = [];
  for (let i = 0; i < 3; i++) {
    let bytes = 0;
    const s = performance.now();
    await sbx.runCode("line = 'x' * 1023\nfor _ in range(10240):\n    print(line)", { onStdout: (o) => { bytes += Buffer.byteLength(o.line); }, timeoutMs: 120_000 });
    const ms = performance.now() - s;
    if (bytes !== 10 * 1024 * 1024) throw new Error(`received ${bytes} bytes of stdout`);
    runs.push((bytes / 1024 / 1024) / (ms / 1000));
  }
  console.log(`10 MB stdout stream: ${runs.map((x) => x.toFixed(1)).join(', ')} MB/s (3 runs, median ${pct(runs, 0.5).toFixed(1)} MB/s)`);

  // Recovery: a process killed with kill -9 as root inside the sandbox, then runCode("1+1") until
  // it answers 2 (the kernel: the next run starts a new one; the server: envd starts it again).
  const recovery = async (pattern, rounds) => {
    const xs = [];
    for (let i = 0; i < rounds; i++) {
      const killed = await sbx.commands.run(`kill -9 $(pgrep -f '${pattern}')`, { user: 'root' });
      if (killed.exitCode !== 0) throw new Error(`kill ${pattern}: exit ${killed.exitCode}`);
      const s = performance.now();
      let r;
      for (let t = 0; t < 600 && r?.text !== '2'; t++) {
        r = await sbx.runCode('1+1', { timeoutMs: 30_000 }).catch((e) => e);
        if (r?.text !== '2') await sleep(50);
      }
      if (r?.text !== '2') throw new Error(`no answer after killing ${pattern}: ${r}`);
      xs.push(performance.now() - s);
      await sleep(1000);
    }
    return xs;
  };
  report('Python kernel killed (kill -9) → runCode("1+1") answers again', await recovery('[i]pykernel_launcher', 5));
  report('port-49999 server killed (kill -9) → runCode("1+1") answers again', await recovery('[c]ode-interpreter/server.py', 3));
} finally {
  await sbx.kill();
}
