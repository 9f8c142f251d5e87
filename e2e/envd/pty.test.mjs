// sandbox.pty.* of the real e2b SDK (debug mode) against Portal.Envd.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, CommandExitError } from 'e2b';

let sbx;
before(async () => {
  sbx = await Sandbox.create();
});

const encode = (s) => new TextEncoder().encode(s);

/** A PTY whose output is collected as text. */
async function openPty(opts = {}) {
  const decoder = new TextDecoder();
  const state = { out: '' };
  const handle = await sbx.pty.create({
    cols: 80,
    rows: 24,
    onData: (d) => {
      state.out += decoder.decode(d, { stream: true });
    },
    ...opts,
  });
  state.handle = handle;
  state.type = (s) => sbx.pty.sendInput(handle.pid, encode(s));
  state.waitFor = async (text, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!state.out.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" in PTY output: ${JSON.stringify(state.out)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return state;
}

test('pty: input, output, resize changes tput cols, exit ends with 0', async () => {
  const pty = await openPty();
  assert.ok(pty.handle.pid > 0);

  // $((6*7)) keeps the echoed command line from matching the expected output.
  await pty.type('echo "R=$((6*7))" "T=$TERM"\n');
  await pty.waitFor('R=42 T=xterm-256color');

  await pty.type('echo "C=$(tput cols)"\n');
  await pty.waitFor('C=80');

  await sbx.pty.resize(pty.handle.pid, { cols: 132, rows: 40 });
  await pty.type('echo "C=$(tput cols) L=$(tput lines)"\n');
  await pty.waitFor('C=132 L=40');

  await pty.type('exit\n');
  const r = await pty.handle.wait();
  assert.equal(r.exitCode, 0);
});

test('pty: runs as the default user in the home directory, root on request', async () => {
  const pty = await openPty();
  await pty.type('echo "U=$(id -un) D=$(pwd)"; exit\n');
  await pty.handle.wait();
  assert.ok(pty.out.includes('U=user D=/home/user'), pty.out);

  const root = await openPty({ user: 'root', cwd: '/tmp', envs: { MARK: 'm1' } });
  await root.type('echo "U=$(id -u) D=$(pwd) M=$MARK"; exit\n');
  await root.handle.wait();
  assert.ok(root.out.includes('U=0 D=/tmp M=m1'), root.out);
});

test('pty: listed while running, kill ends it', async () => {
  const pty = await openPty();
  assert.ok((await sbx.commands.list()).some((p) => p.pid === pty.handle.pid));
  assert.equal(await sbx.pty.kill(pty.handle.pid), true);
  await assert.rejects(pty.handle.wait(), (e) => {
    assert.ok(e instanceof CommandExitError, String(e));
    assert.equal(e.exitCode, -1);
    return true;
  });
  assert.equal(await sbx.pty.kill(pty.handle.pid), false);
});

test('pty: connect to a running terminal gets its live output', async () => {
  const pty = await openPty();
  await pty.handle.disconnect();
  const decoder = new TextDecoder();
  let out = '';
  const again = await sbx.pty.connect(pty.handle.pid, { onData: (d) => (out += decoder.decode(d, { stream: true })) });
  await sbx.pty.sendInput(pty.handle.pid, encode('echo "X=$((2+3))"; exit 3\n'));
  await assert.rejects(again.wait(), (e) => e instanceof CommandExitError && e.exitCode === 3);
  assert.ok(out.includes('X=5'), out);
});
