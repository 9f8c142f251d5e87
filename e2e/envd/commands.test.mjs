import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { CommandExitError, TimeoutError } from 'e2b';
import { sandbox, sleep, eventually } from './helpers.mjs';

let sbx;
before(async () => { sbx = await sandbox(); });

test('stdout, stderr and exit code of a command', async () => {
  const r = await sbx.commands.run('echo out; echo err >&2');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
});

test('commands get default signal dispositions: a closed pipe ends a writer quietly', async () => {
  // envd's own runtime ignores SIGPIPE; its children must not inherit that.
  const r = await sbx.commands.run('yes | head -1; echo "${PIPESTATUS[@]}"; grep SigIgn /proc/self/status');
  assert.equal(r.stderr, '');
  const [y, status, ignored] = r.stdout.trim().split('\n');
  assert.deepEqual([y, status], ['y', '141 0']);
  assert.equal(BigInt('0x' + ignored.split('\t')[1]) & (1n << 12n), 0n, `SIGPIPE ignored: ${ignored}`);
});

test('a non-zero exit throws CommandExitError with the output', async () => {
  await assert.rejects(sbx.commands.run('echo partial; echo bad >&2; exit 3'), (e) => {
    assert.ok(e instanceof CommandExitError);
    assert.equal(e.exitCode, 3);
    assert.equal(e.stdout, 'partial\n');
    assert.equal(e.stderr, 'bad\n');
    assert.match(e.message, /exit status 3/);
    return true;
  });
});

test('per-call env vars are visible and do not leak into later commands', async () => {
  const r = await sbx.commands.run('echo "$FOO"', { envs: { FOO: 'bar baz' } });
  assert.equal(r.stdout, 'bar baz\n');
  const later = await sbx.commands.run('echo "[$FOO]"');
  assert.equal(later.stdout, '[]\n');
});

test('cwd: default home, explicit, relative, missing', async () => {
  assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n');
  assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
  await sbx.commands.run('mkdir -p rel-dir-e2e');
  assert.equal((await sbx.commands.run('pwd', { cwd: 'rel-dir-e2e' })).stdout, '/home/user/rel-dir-e2e\n');
  await assert.rejects(sbx.commands.run('pwd', { cwd: '/does/not/exist' }));
});

test('the command runs as the requested user, with that user\'s identity', async () => {
  assert.equal((await sbx.commands.run('id -un; echo $HOME')).stdout, 'user\n/home/user\n');
  assert.equal((await sbx.commands.run('id -u; echo $HOME', { user: 'root' })).stdout, '0\n/root\n');
  // not root with a label: the default user cannot read root's files
  await assert.rejects(sbx.commands.run('cat /etc/shadow'), CommandExitError);
});

test('background command with stdin, closeStdin, list and connect', async () => {
  const h = await sbx.commands.run('cat; echo done', { background: true, stdin: true });
  assert.ok(h.pid > 0);
  const listed = await sbx.commands.list();
  assert.ok(listed.some((p) => p.pid === h.pid));
  await sbx.commands.sendStdin(h.pid, 'line one\n');
  const seen = [];
  const again = await sbx.commands.connect(h.pid, { onStdout: (d) => seen.push(d) });
  await sbx.commands.sendStdin(h.pid, 'line two\n');
  await sbx.commands.closeStdin(h.pid);
  const result = await h.wait();
  assert.equal(result.stdout, 'line one\nline two\ndone\n');
  await again.wait();
  assert.ok(seen.join('').includes('line two'));
});

test('kill ends a background command; killing it again reports false', async () => {
  const h = await sbx.commands.run('sleep 30', { background: true });
  assert.equal(await sbx.commands.kill(h.pid), true);
  await assert.rejects(h.wait(), CommandExitError);
  await eventually(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid));
  assert.equal(await sbx.commands.kill(h.pid), false);
});

test('timeoutMs ends a long command with TimeoutError', async () => {
  const started = Date.now();
  await assert.rejects(sbx.commands.run('sleep 20', { timeoutMs: 800 }), TimeoutError);
  assert.ok(Date.now() - started < 10000);
});

test('timeoutMs kills the command even though the SDK gives up first (background and foreground)', async () => {
  // The SDK aborts its request when timeoutMs passes, a moment before envd's deadline does.
  const h = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 2000 });
  await assert.rejects(h.wait(), TimeoutError);
  const listed = async (pred) => (await sbx.commands.list()).some(pred);
  assert.ok(await eventually(async () => !(await listed((p) => p.pid === h.pid)), 5000), `pid ${h.pid} is still listed after its deadline`);
  assert.equal((await sbx.commands.run(`test -e /proc/${h.pid} && echo alive || echo gone`)).stdout, 'gone\n');

  await assert.rejects(sbx.commands.run('sleep 31', { timeoutMs: 1500 }), TimeoutError);
  assert.ok(await eventually(async () => !(await listed((p) => p.args.join(' ').includes('sleep 31'))), 5000), 'the foreground command is still listed after its deadline');
});

test('a command\'s deadline still kills it after the SDK disconnected', async () => {
  const h = await sbx.commands.run('sleep 32', { background: true, timeoutMs: 3000 });
  await h.disconnect();
  await sleep(500);
  assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid), 'a disconnect alone must not kill');
  assert.ok(await eventually(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), 8000), `pid ${h.pid} outlived its deadline`);
});

test('streaming callbacks receive output as it happens', async () => {
  const chunks = [];
  const r = await sbx.commands.run('for i in 1 2 3; do echo $i; sleep 0.1; done', { onStdout: (d) => chunks.push(d) });
  assert.equal(r.stdout, '1\n2\n3\n');
  assert.equal(chunks.join(''), '1\n2\n3\n');
});

test('large output arrives intact', async () => {
  const r = await sbx.commands.run('head -c 1000000 /dev/zero | tr "\\0" "a"');
  assert.equal(r.stdout.length, 1000000);
  assert.ok(/^a+$/.test(r.stdout));
});

test('a disconnected stream does not kill its process', async () => {
  const h = await sbx.commands.run('sleep 2; echo survived > /tmp/e2e-survivor-$PPID; echo ok', { background: true });
  await h.disconnect();
  await sleep(100);
  assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid));
  const back = await sbx.commands.connect(h.pid);
  const r = await back.wait();
  assert.equal(r.stdout, 'ok\n');
});
