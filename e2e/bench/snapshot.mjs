// Snapshot and fork benchmark with the real e2b SDK (non-debug) against the local runtime: a
// sandbox with 100 MB of changed files (BENCH_MB), then BENCH_N times each: createSnapshot,
// create → first command from that snapshot, and fork ×3 (all three started). Prints p50/p90.
// Env: PORTAL_URL, E2B_API_KEY. Everything it makes is deleted or killed.
import { Sandbox } from 'e2b';

const url = process.env.PORTAL_URL;
const opts = { apiKey: process.env.E2B_API_KEY, apiUrl: url, sandboxUrl: url, requestTimeoutMs: 300_000 };
const N = Number(process.env.BENCH_N ?? 5);
const MB = Number(process.env.BENCH_MB ?? 100);
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const report = (what, xs) => console.log(`${what}: p50 ${pct(xs, 0.5).toFixed(0)} ms, p90 ${pct(xs, 0.9).toFixed(0)} ms (n=${xs.length})`);

const src = await Sandbox.create('base', { ...opts, timeoutMs: 3_600_000 });
try {
  // Ten files of MB/10 each, incompressible, written inside the sandbox (its overlay's upper layer).
  await src.commands.run(`mkdir -p /home/user/data && for i in $(seq 1 10); do head -c ${MB / 10}M /dev/urandom > /home/user/data/f$i; done && sync`, { timeoutMs: 300_000 });
  console.log(`source: ${(await src.commands.run('du -sm /home/user/data')).stdout.trim()}`);
  const snap = [], fromSnap = [], fork3 = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    const s = await src.createSnapshot(opts);
    snap.push(performance.now() - t);

    t = performance.now();
    const from = await Sandbox.create(s.snapshotId, opts);
    await from.commands.run('true');
    fromSnap.push(performance.now() - t);
    await from.kill();
    await Sandbox.deleteSnapshot(s.snapshotId, opts);

    t = performance.now();
    const forks = await src.fork({ ...opts, count: 3, timeoutMs: 120_000 });
    fork3.push(performance.now() - t);
    const failed = forks.filter((f) => !(f instanceof Sandbox));
    if (failed.length) throw new Error(`fork failed: ${failed.map(String).join('; ')}`);
    await Promise.all(forks.map((f) => f.kill()));
  }
  report(`createSnapshot of a sandbox with ${MB} MB of changed files`, snap);
  report(`Sandbox.create from that snapshot → first commands.run done`, fromSnap);
  report(`fork ×3 (${MB} MB of changed files; all three started)`, fork3);
} finally {
  await src.kill();
}
