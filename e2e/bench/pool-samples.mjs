// Pools the samples bench/portal.mjs wrote per turn (BENCH_SAMPLES_OUT, named <side>-<round>.json)
// and prints one line per measurement and side: bench-portal.sh compare's summary.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const sides = {};
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const side = f.split('-')[0];
  const s = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  sides[side] ??= { createOnly: [], firstCommand: [], roundTrip: [] };
  for (const k of Object.keys(sides[side])) sides[side][k].push(...s[k]);
}
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const names = { createOnly: 'Sandbox.create', firstCommand: 'create → first commands.run("true") done', roundTrip: 'commands.run("true") round trip' };
for (const k of Object.keys(names)) {
  const cells = ['before', 'after'].filter((s) => sides[s]).map((s) =>
    `${s} p50 ${pct(sides[s][k], 0.5).toFixed(1)} ms, p90 ${pct(sides[s][k], 0.9).toFixed(1)} ms (n=${sides[s][k].length})`);
  console.log(`${names[k]}: ${cells.join(' | ')}`);
}
