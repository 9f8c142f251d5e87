// sandbox.commands.* of the real e2b SDK (debug mode) against Portal.Envd.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Sandbox, CommandExitError, TimeoutError, InvalidArgumentError } from 'e2b';

let sbx;
before(async () => {
  sbx = await Sandbox.create();
});

test('run: stdout, empty stderr, exit code 0', async () => {
  const r = await sbx.commands.run('echo hello');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.stderr, '');
  assert.equal(r.error, undefined);
});

test('run: stderr is captured separately', async () => {
  const r = await sbx.commands.run('echo to-out; echo to-err >&2');
  assert.equal(r.stdout, 'to-out\n');
  assert.equal(r.stderr, 'to-err\n');
});

test('run: non-zero exit throws CommandExitError with exitCode, stdout, stderr', async () => {
  await assert.rejects(sbx.commands.run('echo out; echo err >&2; exit 7'), (e) => {
    assert.ok(e instanceof CommandExitError, String(e));
    assert.equal(e.exitCode, 7);
    assert.equal(e.stdout, 'out\n');
    assert.equal(e.stderr, 'err\n');
    assert.equal(e.error, 'exit status 7');
    return true;
  });
});

test('run: envs apply to one command only', async () => {
  const r = await sbx.commands.run('echo "$FOO|$BAR_BAZ"', { envs: { FOO: 'foo', BAR_BAZ: 'bar' } });
  assert.equal(r.stdout, 'foo|bar\n');
  const again = await sbx.commands.run('echo "${FOO-unset}"');
  assert.equal(again.stdout, 'unset\n');
});

test('run: cwd absolute, relative to home, ~, and missing', async () => {
  assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
  assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n');
  assert.equal((await sbx.commands.run('pwd', { cwd: '..' })).stdout, '/home\n');
  assert.equal((await sbx.commands.run('pwd', { cwd: '~' })).stdout, '/home/user\n');
  await assert.rejects(sbx.commands.run('pwd', { cwd: '/no/such/dir' }), InvalidArgumentError);
});

test('run: default user is "user", root on request', async () => {
  const def = await sbx.commands.run('id -un; echo $HOME');
  assert.equal(def.stdout, 'user\n/home/user\n');
  const root = await sbx.commands.run('id -u; echo $HOME', { user: 'root' });
  assert.equal(root.stdout, '0\n/root\n');
});

test('run: onStdout / onStderr callbacks see the output', async () => {
  const out = [];
  const err = [];
  const r = await sbx.commands.run('echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c', {
    onStdout: (d) => out.push(d),
    onStderr: (d) => err.push(d),
  });
  assert.equal(out.join(''), 'a\nc\n');
  assert.equal(err.join(''), 'b\n');
  assert.equal(r.stdout, 'a\nc\n');
});

test('run: 1 MB of output arrives intact', async () => {
  const r = await sbx.commands.run(
    'f=$(mktemp); head -c 786432 /dev/urandom | base64 -w 0 > $f; sha256sum $f | cut -c1-64 >&2; cat $f; rm $f',
  );
  assert.equal(r.stdout.length, 1048576);
  assert.equal(createHash('sha256').update(r.stdout).digest('hex'), r.stderr.trim());
});

test('run: a short timeoutMs kills the command with TimeoutError', async () => {
  const started = Date.now();
  await assert.rejects(sbx.commands.run('sleep 20', { timeoutMs: 700 }), TimeoutError);
  assert.ok(Date.now() - started < 10_000);
  // The client's own timer may fire a moment before envd's kill lands: allow a short grace.
  const deadline = Date.now() + 5_000;
  let alive = true;
  while (alive && Date.now() < deadline) {
    alive = (await sbx.commands.list()).some((p) => p.args.includes('sleep 20'));
    if (alive) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(!alive, 'the timed-out command is gone');
});

test('background: sendStdin, closeStdin, wait', async () => {
  const h = await sbx.commands.run('cat; echo closed', { background: true, stdin: true });
  assert.ok(h.pid > 0);
  await sbx.commands.sendStdin(h.pid, 'first\n');
  await h.sendStdin('second\n');
  await h.closeStdin();
  const r = await h.wait();
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'first\nsecond\nclosed\n');
});

test('background: list, connect, kill', async () => {
  const h = await sbx.commands.run('for i in $(seq 1 300); do echo tick; sleep 0.1; done', { background: true });
  const procs = await sbx.commands.list();
  const mine = procs.find((p) => p.pid === h.pid);
  assert.ok(mine, 'listed');
  assert.equal(mine.cmd, '/bin/bash');
  assert.ok(mine.args.some((a) => a.includes('echo tick')));

  await h.disconnect();
  const seen = [];
  const c = await sbx.commands.connect(h.pid, { onStdout: (d) => seen.push(d) });
  assert.equal(c.pid, h.pid);
  const deadline = Date.now() + 10_000;
  while (!seen.join('').includes('tick') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(seen.join('').includes('tick'), 'live output after connect');

  assert.equal(await sbx.commands.kill(h.pid), true);
  await assert.rejects(c.wait(), (e) => {
    assert.ok(e instanceof CommandExitError, String(e));
    assert.equal(e.exitCode, -1);
    assert.equal(e.error, 'signal: killed');
    return true;
  });
  assert.equal(await sbx.commands.kill(h.pid), false, 'killing a finished command reports false');
  assert.ok(!(await sbx.commands.list()).some((p) => p.pid === h.pid));
});

test('connect: unknown pid is rejected', async () => {
  await assert.rejects(sbx.commands.connect(999999999));
});
