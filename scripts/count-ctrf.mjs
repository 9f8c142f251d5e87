// Sums passed/failed/skipped over every CTRF report under a folder; prints "P F S".
// A folder without reports counts as one failure (the test host crashed or never ran).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let p = 0, f = 0, s = 0, reports = 0;
const walk = (d) => {
  let entries = [];
  try { entries = readdirSync(d); } catch { return; }
  for (const e of entries) {
    const full = join(d, e);
    if (statSync(full).isDirectory()) walk(full);
    else if (e.endsWith('.ctrf') || e.endsWith('.json')) {
      try {
        const sum = JSON.parse(readFileSync(full, 'utf8')).results.summary;
        p += sum.passed; f += sum.failed; s += sum.skipped ?? 0; reports++;
      } catch { /* not a CTRF file */ }
    }
  }
};
walk(dir);
if (reports === 0) f = 1;
console.log(`${p} ${f} ${s}`);
