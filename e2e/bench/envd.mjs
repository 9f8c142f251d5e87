// Benchmark of Portal.Envd as the E2B SDK sees it. Prints its numbers; asserts nothing.
//   node e2e/bench/envd.mjs <path-to-portal-envd>
// Needs root (envd acts as user `user`) and port 49983 free (the SDK's debug mode uses it).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';

const bin = process.argv[2];
if (!bin) { console.error('usage: node e2e/bench/envd.mjs <portal-envd binary>'); process.exit(2); }
process.env.E2B_DEBUG = 'true';
const { Sandbox } = await import('e2b');

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]; };
const ms = (x) => x.toFixed(2);
const now = () => performance.now();
const sleep = (t) => new Promise((r) => setTimeout(r, t));

async function startEnvd(port) {
  const t0 = now();
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' });
  children.add(child);
  child.once('exit', () => children.delete(child));
  for (let i = 0; i < 5000; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status === 204) return { child, readyMs: now() - t0 };
    } catch { /* not listening yet */ }
    await sleep(0.5);
  }
  child.kill('SIGKILL');
  throw new Error('envd did not become ready');
}

const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });
const stop = (child) => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); });
const rssKb = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
// VmRSS split: anonymous (heap, stacks, GC) and file-backed (mapped pages of the binary and libc)
const rssParts = (pid) => { const s = readFileSync(`/proc/${pid}/status`, 'utf8'); const kb = (k) => Number(s.match(new RegExp(k + ':\\s+(\\d+)'))[1]) / 1024;
  return `anon ${kb('RssAnon').toFixed(1)} + file ${kb('RssFile').toFixed(1)}`; };

// 1. start to first /health
const starts = [];
for (let i = 0; i < 10; i++) {
  const { child, readyMs } = await startEnvd(49990);
  starts.push(readyMs);
  await stop(child);
}

// 2. idle RSS, and everything else against one envd on the SDK's debug port
const { child: envd } = await startEnvd(49983);
const sbx = await Sandbox.create();
await sbx.commands.run('true');
await sleep(4000); // idle: envd trims its memory after 2 s without requests
const idleRss = rssKb(envd.pid);
const idleParts = rssParts(envd.pid);

// 3. commands.run("true") round trip vs spawning bash directly
const N = 200;
const rpc = [];
for (let i = 0; i < 20; i++) await sbx.commands.run('true');
for (let i = 0; i < N; i++) { const t = now(); await sbx.commands.run('true'); rpc.push(now() - t); }
const direct = [];
const runDirect = () => new Promise((res, rej) => {
  const c = spawn('/bin/bash', ['-l', '-c', 'true'], { stdio: 'ignore', uid: 1000, gid: 1000, env: { HOME: '/home/user', PATH: '/usr/bin:/bin' }, cwd: '/home/user' });
  c.once('exit', res); c.once('error', rej);
});
for (let i = 0; i < 20; i++) await runDirect();
for (let i = 0; i < N; i++) { const t = now(); await runDirect(); direct.push(now() - t); }

// 4. 100 MB upload and download: the first transfer each way (cold: the client's first
// 100 MB buffers and code paths), then the median of TRANSFERS more
const TRANSFERS = Number(process.env.BENCH_TRANSFERS ?? 5);
const size = 100 * 1024 * 1024;
const data = randomBytes(size);
const path = `/home/user/bench-${process.pid}.bin`;
const ups = [], downs = [];
let same = true;
for (let i = 0; i <= TRANSFERS; i++) {
  let t = now();
  await sbx.files.write(path, data.buffer.slice(data.byteOffset, data.byteOffset + size));
  ups.push(now() - t);
  t = now();
  const back = await sbx.files.read(path, { format: 'bytes' });
  downs.push(now() - t);
  if (i === 0) same = createHash('sha256').update(data).digest('hex') === createHash('sha256').update(back).digest('hex');
}
const upMs = ups[0], downMs = downs[0];
const upWarm = pct(ups.slice(1), 50), downWarm = pct(downs.slice(1), 50);

// the same transfers over plain HTTP (octet-stream up, identity down): envd's own ceiling,
// without the SDK's multipart encoding and fetch overhead
const http = await import('node:http');
const raw = (method, body) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: 49983, method, path: `/files?path=${encodeURIComponent(path)}`,
    headers: body ? { 'content-type': 'application/octet-stream', 'content-length': body.length } : {} }, (res) => {
    let n = 0; res.on('data', (c) => { n += c.length; }); res.on('end', () => resolve(n));
  });
  req.on('error', reject);
  req.end(body);
});
let t = now(); await raw('POST', data); const rawUpMs = now() - t;
t = now(); const rawBytes = await raw('GET'); const rawDownMs = now() - t;
await sbx.files.remove(path);
await sleep(4000);
const afterRss = rssKb(envd.pid);
const afterParts = rssParts(envd.pid);
await stop(envd);

const mbps = (bytes, t) => (bytes / 1024 / 1024 / (t / 1000)).toFixed(0);
console.log('Portal.Envd benchmark (' + new Date().toISOString() + ', ' + (await import('node:os')).cpus().length + ' cores)');
console.log(`start to first /health   p50 ${ms(pct(starts, 50))} ms   max ${ms(Math.max(...starts))} ms   (target < 50 ms)`);
console.log(`idle RSS                 ${(idleRss / 1024).toFixed(1)} MB (${idleParts})   (target < 15 MB)`);
console.log(`idle RSS after transfers ${(afterRss / 1024).toFixed(1)} MB (${afterParts})`);
console.log(`commands.run("true")     p50 ${ms(pct(rpc, 50))} ms   p95 ${ms(pct(rpc, 95))} ms`);
console.log(`bash -l -c true direct   p50 ${ms(pct(direct, 50))} ms   p95 ${ms(pct(direct, 95))} ms   ratio p50 ${(pct(rpc, 50) / pct(direct, 50)).toFixed(2)}x (target <= 1.5x)`);
console.log(`100 MB upload            p50 ${mbps(size, upWarm)} MB/s over ${TRANSFERS}   first ${mbps(size, upMs)} MB/s (${ms(upMs)} ms)`);
console.log(`100 MB download          p50 ${mbps(size, downWarm)} MB/s over ${TRANSFERS}   first ${mbps(size, downMs)} MB/s (${ms(downMs)} ms, intact: ${same})   (target >= 200 MB/s each way)`);
console.log(`100 MB upload, raw HTTP  ${mbps(size, rawUpMs)} MB/s`);
console.log(`100 MB download, raw     ${mbps(rawBytes, rawDownMs)} MB/s`);
