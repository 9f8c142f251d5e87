import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { sandbox, eventually } from './helpers.mjs';

let sbx;
before(async () => { sbx = await sandbox(); });
const enc = new TextEncoder();
// Terminal output without escape sequences, one entry per line.
const lines = (out) => out.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07/g, '').split(/\r?\n/).map((l) => l.replace(/\r/g, '').trim());

test('a terminal echoes input, resizes (tput cols) and exits with code 0', async () => {
  let out = '';
  const term = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += Buffer.from(d).toString(); } });
  await sbx.pty.sendInput(term.pid, enc.encode('tput cols\n'));
  assert.ok(await eventually(() => lines(out).includes('80')), `expected 80 columns in ${JSON.stringify(out.slice(-300))}`);
  await sbx.pty.resize(term.pid, { cols: 132, rows: 40 });
  await sbx.pty.sendInput(term.pid, enc.encode('tput cols; tput lines\n'));
  assert.ok(await eventually(() => lines(out).includes('132') && lines(out).includes('40')), `expected 132x40 in ${JSON.stringify(out.slice(-300))}`);
  await sbx.pty.sendInput(term.pid, enc.encode('exit\n'));
  const result = await term.wait();
  assert.equal(result.exitCode, 0);
});

test('the terminal is a real tty owned by the user', async () => {
  let out = '';
  const term = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += Buffer.from(d).toString(); } });
  await sbx.pty.sendInput(term.pid, enc.encode('tty; id -un; [ -t 0 ] && echo IS_TTY; exit\n'));
  await term.wait();
  assert.match(out, /\/dev\/pts\/\d+/);
  assert.ok(lines(out).includes('user'), JSON.stringify(out));
  assert.match(out, /IS_TTY/);
});

test('pty.kill ends a terminal; connect re-attaches to a live one', async () => {
  let out = '';
  const term = await sbx.pty.create({ cols: 80, rows: 24, onData: () => {} });
  const again = await sbx.pty.connect(term.pid, { onData: (d) => { out += Buffer.from(d).toString(); } });
  await sbx.pty.sendInput(term.pid, enc.encode('echo attached-$((40+2))\n'));
  assert.ok(await eventually(() => out.includes('attached-42')));
  assert.equal(await sbx.pty.kill(term.pid), true);
  await assert.rejects(term.wait());
  await assert.rejects(again.wait());
  assert.equal(await sbx.pty.kill(term.pid), false);
});
