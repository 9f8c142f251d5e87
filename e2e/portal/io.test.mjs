// Sandbox I/O through the portal's proxy with the real SDK: env vars, commands, PTY,
// a sandbox killed mid-run, and many sandboxes at once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { onFakeKubelet, opts, tracker } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

test('env vars given at create are visible to commands', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, envs: { GREETING: 'hello portal', EMPTYISH: 'x' } }));
  const r = await sbx.commands.run('echo "$GREETING"');
  assert.equal(r.stdout, 'hello portal\n');
  const per = await sbx.commands.run('echo "$GREETING/$LOCAL"', { envs: { LOCAL: 'call' } });
  assert.equal(per.stdout, 'hello portal/call\n');
});

test('commands stream output and report exit codes', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  const chunks = [];
  const r = await sbx.commands.run('for i in 1 2 3; do echo line$i; sleep 0.2; done', { onStdout: (d) => chunks.push(d) });
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'line1\nline2\nline3\n');
  assert.ok(chunks.length >= 2, 'output arrived in several chunks');
  await assert.rejects(sbx.commands.run('exit 3'), (e) => e.exitCode === 3);
});

test('the default user gets root through passwordless sudo, as in E2B\'s base image', {
  skip: onFakeKubelet && 'pods of the fake kubelet run on this machine, not in the base image (its sudo, its hostname)',
}, async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  const r = await sbx.commands.run('whoami; sudo -n true && sudo -n whoami; sudo -n apt-get --version | head -1; hostname');
  assert.equal(r.stderr, '');
  const [user, root, apt, host] = r.stdout.trim().split('\n');
  assert.deepEqual([user, root, host], ['user', 'root', sbx.sandboxId.split('-')[0]]);
  assert.match(apt, /^apt /);
  const asRoot = await sbx.commands.run('sudo -n touch /etc/made-by-user && ls -l /etc/made-by-user');
  assert.match(asRoot.stdout, /root root/);
});

test('PTY through the proxy', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  let out = '';
  const pty = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => { out += new TextDecoder().decode(d); } });
  await sbx.pty.sendInput(pty.pid, new TextEncoder().encode('echo pty-$((40+2))\nexit\n'));
  const result = await pty.wait();
  assert.equal(result.exitCode, 0);
  assert.match(out, /pty-42/);
});

test('a sandbox killed during a long commands.run makes the run fail within seconds', async () => {
  const sbx = await Sandbox.create('base', opts);
  const started = Date.now();
  const run = sbx.commands.run('sleep 60', { timeoutMs: 0 });
  setTimeout(() => { Sandbox.kill(sbx.sandboxId, opts).catch(() => {}); }, 1_000);
  await assert.rejects(run);
  assert.ok(Date.now() - started < 10_000, `failed after ${Date.now() - started} ms`);
});

test('20 concurrent creates, each running a command', async () => {
  const results = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const sbx = created.add(await Sandbox.create('base', opts));
    const r = await sbx.commands.run(`echo sandbox-${i}`);
    return [sbx.sandboxId, r.stdout.trim()];
  }));
  assert.equal(new Set(results.map(([id]) => id)).size, 20);
  results.forEach(([, out], i) => assert.equal(out, `sandbox-${i}`));
});
