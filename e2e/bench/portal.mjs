// Portal benchmark with the real e2b SDK (non-debug): create → first command, and a command
// round trip on a warm sandbox, through the portal's control plane and proxy.
// Env: PORTAL_URL, E2B_API_KEY. Prints one line per measurement.
import { Sandbox } from 'e2b';

const url = process.env.PORTAL_URL;
const opts = { apiKey: process.env.E2B_API_KEY, apiUrl: url, sandboxUrl: url };
const N = Number(process.env.BENCH_N ?? 20);
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const report = (what, xs) => console.log(`${what}: p50 ${pct(xs, 0.5).toFixed(1)} ms, p90 ${pct(xs, 0.9).toFixed(1)} ms (n=${xs.length})`);

// Warm-up: first start pays for page cache and JIT.
await (await Sandbox.create('base', opts)).kill();

const createOnly = [], firstCommand = [], roundTrip = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const sbx = await Sandbox.create('base', opts);
  const t1 = performance.now();
  await sbx.commands.run('true');
  const t2 = performance.now();
  createOnly.push(t1 - t0);
  firstCommand.push(t2 - t0);
  for (let j = 0; j < 5; j++) {
    const s = performance.now();
    await sbx.commands.run('true');
    roundTrip.push(performance.now() - s);
  }
  await sbx.kill();
  // Let the warm pool (Portal:LocalRuntime:WarmPools, base: 2 by default) refill, so each
  // create measures a claim; BENCH_GAP_MS=0 measures back-to-back creates instead.
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_GAP_MS ?? 600)));
}
report('Sandbox.create (POST /v2/sandboxes, real local runtime)', createOnly);
report('create → first commands.run("true") done', firstCommand);
report('commands.run("true") on a running sandbox, through the proxy', roundTrip);
if (process.env.BENCH_SAMPLES_OUT) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.BENCH_SAMPLES_OUT, JSON.stringify({ createOnly, firstCommand, roundTrip }));
}
