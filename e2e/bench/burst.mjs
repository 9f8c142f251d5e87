// Burst benchmark with the real e2b SDK (non-debug): N concurrent Sandbox.create calls through
// the portal's API, as an SDK user's fan-out would send them. Prints the total time, each
// create's p50/p95, and the CPU the portal process and the machine spent meanwhile; then checks
// every sandbox answers as itself (hostname = its ID) and kills them all.
// Env: PORTAL_URL, E2B_API_KEY, BENCH_N (default 100), BENCH_CHUNK, PORTAL_PID (optional, for its CPU),
// BENCH_IDLE_SECONDS (optional: with all N sandboxes alive and idle, measure the portal's and the
// machine's CPU over that many seconds before killing them).
import { readFileSync } from 'node:fs';
import { Sandbox } from 'e2b';

const url = process.env.PORTAL_URL;
const opts = { apiKey: process.env.E2B_API_KEY, apiUrl: url, sandboxUrl: url };
const N = Number(process.env.BENCH_N ?? 100);
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const ticks = 100; // USER_HZ
const procCpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / ticks; };
const machine = () => { const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number); return { idle: (f[3] + f[4]) / ticks, all: f.reduce((a, b) => a + b, 0) / ticks }; };

const pid = process.env.PORTAL_PID;
const cpu0 = pid ? procCpu(pid) : 0, m0 = machine();
const t0 = performance.now();
const times = [];
// BENCH_CHUNK (default N): that many at once, chunk after chunk (to hold many sandboxes without
// every cold start of a thousand waiting on the same two cores at once).
const chunk = Number(process.env.BENCH_CHUNK ?? N);
const results = [];
for (let done = 0; done < N; done += chunk) {
  results.push(...await Promise.allSettled(Array.from({ length: Math.min(chunk, N - done) }, async () => {
    const s = performance.now();
    const sbx = await Sandbox.create('base', { ...opts, timeoutMs: 3_600_000 });
    times.push(performance.now() - s);
    return sbx;
  })));
}
const total = performance.now() - t0;
const cpu1 = pid ? procCpu(pid) : 0, m1 = machine();
const made = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
const failed = results.filter((r) => r.status === 'rejected');
console.log(`${N} concurrent Sandbox.create${chunk < N ? ` (${chunk} at a time)` : ''}: all done in ${(total / 1000).toFixed(2)} s; each: p50 ${pct(times, 0.5).toFixed(0)} ms, p95 ${pct(times, 0.95).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms; ${failed.length} failed`);
for (const f of failed.slice(0, 3)) console.log(`  failure: ${f.reason?.message ?? f.reason}`);
const busy = (m1.all - m0.all) - (m1.idle - m0.idle);
console.log(`CPU during the burst: portal ${pid ? (cpu1 - cpu0).toFixed(2) + ' s' : 'n/a'}, machine ${busy.toFixed(2)} s busy of ${(m1.all - m0.all).toFixed(2)} s`);

// Whatever happens below, every sandbox made is killed before the script ends.
let wrong = 0, unchecked = 0;
try {
  // Each sandbox is its own: hostname = its ID (a claimed warm sandbox is renamed). Checked
  // chunk by chunk like the creates: a thousand commands at once would swamp two cores.
  for (let i = 0; i < made.length; i += chunk) {
    await Promise.all(made.slice(i, i + chunk).map(async (s) => {
      try {
        const r = await s.commands.run('hostname');
        if (r.stdout.trim() !== s.sandboxId) wrong++;
      } catch (e) {
        unchecked++;
        if (unchecked <= 3) console.log(`  check failed: ${e.message}`);
      }
    }));
  }
  console.log(`checked ${made.length} sandboxes: ${wrong} answered with another hostname, ${unchecked} did not answer`);
  const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 0);
  if (idleSeconds > 0) {
    await new Promise((r) => setTimeout(r, 5000)); // envds trim and settle
    const c0 = pid ? procCpu(pid) : 0, i0 = machine();
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const c1 = pid ? procCpu(pid) : 0, i1 = machine();
    const all = i1.all - i0.all, idleBusy = all - (i1.idle - i0.idle);
    const cores = all / idleSeconds;
    console.log(`idle, ${made.length} sandboxes alive, over ${idleSeconds} s: portal ${pid ? ((c1 - c0) / idleSeconds * 100).toFixed(2) + '% of a core' : 'n/a'}, machine ${(idleBusy / idleSeconds * 100).toFixed(1)}% of a core busy (of ${(cores * 100).toFixed(0)}%, other jobs included)`);
  }
} finally {
  for (let i = 0; i < made.length; i += chunk) await Promise.allSettled(made.slice(i, i + chunk).map((s) => s.kill()));
}
const left = await Sandbox.list({ ...opts }).nextItems();
console.log(`killed ${made.length}; ${left.length} still listed`);
if (failed.length || wrong || unchecked || left.length) process.exitCode = 1;
