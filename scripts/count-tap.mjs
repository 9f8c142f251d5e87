// Reads node's TAP report and prints "P F S"; a missing or empty report counts as one failure.
import { readFileSync } from 'node:fs';

let text = '';
try { text = readFileSync(process.argv[2], 'utf8'); } catch { /* missing */ }
const grab = (k) => Number((text.match(new RegExp(`^# ${k} (\\d+)$`, 'm')) ?? [])[1] ?? NaN);
const p = grab('pass'), f = grab('fail'), s = grab('skipped') + grab('todo');
if (Number.isNaN(p) || Number.isNaN(f)) console.log('0 1 0');
else console.log(`${p} ${f} ${Number.isNaN(s) ? 0 : s}`);
