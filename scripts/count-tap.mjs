// Reads node's TAP report and prints "P F S"; a missing or empty report counts as one failure.
// With a second argument, appends each failed test's name (and its error's first line) to that file.
import { appendFileSync, readFileSync } from 'node:fs';

const [report, failuresFile] = process.argv.slice(2);
let text = '';
try { text = readFileSync(report, 'utf8'); } catch { /* missing */ }
const grab = (k) => Number((text.match(new RegExp(`^# ${k} (\\d+)$`, 'm')) ?? [])[1] ?? NaN);
const p = grab('pass'), f = grab('fail'), s = grab('skipped') + grab('todo');
const failures = [];
const lines = text.split('\n');
lines.forEach((line, i) => {
  const m = line.match(/^\s*not ok \d+ - (.*)$/);
  if (!m) return;
  // The YAML block under a failed test holds its error; its first "error:" line is enough here.
  const block = lines.slice(i + 1, i + 60);
  const at = block.findIndex((l) => /^\s*error:/.test(l));
  let error = at < 0 ? '' : block[at].trim().slice(6).trim();
  if (/^[|>][-+]?$/.test(error)) error = (block[at + 1] ?? '').trim(); // a YAML block scalar
  failures.push(`${report}: ${m[1]}${error ? ` — ${error.slice(0, 300)}` : ''}`);
});
if (Number.isNaN(p) || Number.isNaN(f)) failures.push(`${report}: no complete TAP report`);
if (failuresFile && failures.length) appendFileSync(failuresFile, failures.map((l) => `  ${l}\n`).join(''));
if (Number.isNaN(p) || Number.isNaN(f)) console.log('0 1 0');
else console.log(`${p} ${f} ${Number.isNaN(s) ? 0 : s}`);
