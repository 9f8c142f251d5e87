// Sums passed/failed/skipped over every CTRF report under a folder; prints "P F S".
// A folder without reports counts as one failure (the test host crashed or never ran).
// With a second argument, appends each failed test's name and the start of its message to that
// file, so the end of a CI log names what failed (CI keeps only the log's tail).
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [dir, failuresFile] = process.argv.slice(2);
let p = 0, f = 0, s = 0, reports = 0;
const failures = [];
const walk = (d) => {
  let entries = [];
  try { entries = readdirSync(d); } catch { return; }
  for (const e of entries) {
    const full = join(d, e);
    if (statSync(full).isDirectory()) walk(full);
    else if (e.endsWith('.ctrf') || e.endsWith('.json')) {
      try {
        const results = JSON.parse(readFileSync(full, 'utf8')).results;
        const sum = results.summary;
        p += sum.passed; f += sum.failed; s += sum.skipped ?? 0; reports++;
        for (const t of results.tests ?? []) {
          if (t.status !== 'failed') continue;
          const message = String(t.message ?? '').split('\n').slice(0, 3).join(' | ').slice(0, 400);
          failures.push(`${t.name}: ${message}`);
        }
      } catch { /* not a CTRF file */ }
    }
  }
};
walk(dir);
if (reports === 0) { f = 1; failures.push(`${dir}: no test report (the test host crashed or never ran)`); }
if (failuresFile && failures.length) appendFileSync(failuresFile, failures.map((l) => `  ${l}\n`).join(''));
console.log(`${p} ${f} ${s}`);
