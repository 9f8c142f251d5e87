// A/B of 100 MB uploads through the real SDK (files.write, multipart) against several
// portal-envd binaries, interleaved: each round starts each binary in turn on the SDK's debug
// port and times UPLOADS uploads (after one warm-up). Prints, per binary, the median MB/s and
// envd's CPU time (utime + stime from /proc) per upload. MODE=download times files.read
// (bytes) of the same file instead. Needs root and port 49983 free.
//   node e2e/bench/envd-upload-ab.mjs <portal-envd> [<portal-envd> ...]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const bins = process.argv.slice(2);
if (bins.length === 0) { console.error('usage: node e2e/bench/envd-upload-ab.mjs <portal-envd>...'); process.exit(2); }
process.env.E2B_DEBUG = 'true';
const { Sandbox } = await import('e2b');
const ROUNDS = Number(process.env.ROUNDS ?? 4), UPLOADS = Number(process.env.UPLOADS ?? 5);
const DOWNLOAD = process.env.MODE === 'download'; // time files.read (bytes) instead
const sleep = (t) => new Promise((r) => setTimeout(r, t));
const ticks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const size = 100 * 1024 * 1024;
const data = randomBytes(size);
const body = data.buffer.slice(data.byteOffset, data.byteOffset + size);
const path = `/home/user/ab-${process.pid}.bin`;
const results = bins.map(() => ({ mbps: [], cpu: [] }));
const loads = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, bin] of bins.entries()) {
    const child = spawn(bin, ['--host', '127.0.0.1', '--port', '49983'], { stdio: 'ignore' });
    for (let t = 0; t < 5000; t++) {
      try { if ((await fetch('http://127.0.0.1:49983/health')).status === 204) break; } catch { /* not yet */ }
      await sleep(2);
    }
    const sbx = await Sandbox.create();
    await sbx.files.write(path, body); // warm-up
    for (let u = 0; u < UPLOADS; u++) {
      const c0 = ticks(child.pid), t0 = performance.now();
      if (DOWNLOAD) await sbx.files.read(path, { format: 'bytes' }); else await sbx.files.write(path, body);
      const ms = performance.now() - t0;
      results[i].mbps.push(100 / (ms / 1000));
      results[i].cpu.push((ticks(child.pid) - c0) * 10);
    }
    await sbx.files.remove(path);
    loads.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]));
    await new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); });
  }
}
for (const [i, bin] of bins.entries()) {
  const r = results[i];
  console.log(`${bin}: ${DOWNLOAD ? 'download' : 'upload'} p50 ${med(r.mbps).toFixed(0)} MB/s (n=${r.mbps.length}, min ${Math.min(...r.mbps).toFixed(0)}, max ${Math.max(...r.mbps).toFixed(0)})   envd CPU per transfer p50 ${med(r.cpu)} ms`);
}
console.log(`load average (1 min) during the runs: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`);
