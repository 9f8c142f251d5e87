// Snapshots and fork through the real SDK against the local runtime: a snapshot keeps written,
// deleted and replaced files (overlay whiteouts and opaque directories), sandboxes start from it,
// snapshots are listed, paged, filtered and deleted; a fork into 3 gives independent sandboxes
// while the source keeps running; another team's IDs and bad input are refused as E2B does.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, SandboxNotFoundError } from 'e2b';
import { opts, runId, newTeam, tracker, api } from './_env.mjs';

const created = tracker();
const snapshots = new Set();
after(async () => {
  await created.cleanup(Sandbox);
  // Snapshots are templates on the machine: never leave one behind.
  await Promise.all([...snapshots].map((id) => Sandbox.deleteSnapshot(id, opts).catch(() => {})));
});

const root = { user: 'root' };
const sh = async (sbx, cmd, o = {}) => (await sbx.commands.run(cmd, { ...o })).stdout.trim();
const exitOf = async (sbx, cmd) => {
  try { return (await sbx.commands.run(cmd)).exitCode; } catch (e) { return e.exitCode ?? -1; }
};

async function allSnapshots(listOpts) {
  const pager = Sandbox.listSnapshots({ ...opts, ...listOpts });
  const items = [];
  for (let pages = 0; pager.hasNext && pages < 100; pages++) items.push(...(await pager.nextItems()));
  return items;
}

test('a snapshot keeps written, deleted and replaced files; sandboxes from it see them, each on its own', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  await sbx.files.makeDir('/home/user/app');
  await sbx.files.write('/home/user/app/config.json', '{"env":"test"}');
  await sbx.files.write('/home/user/app/data.txt', 'important data');
  // A file of the base template deleted, and a base directory replaced by one with other contents.
  await sbx.commands.run('rm /etc/debian_version && rm -rf /etc/skel && mkdir /etc/skel && echo new > /etc/skel/only-this', root);
  await sbx.commands.run('chmod 0750 /home/user/app/data.txt');

  const snap = await sbx.createSnapshot(opts);
  snapshots.add(snap.snapshotId);
  assert.match(snap.snapshotId, /^[a-z0-9]{20}:default$/);
  assert.deepEqual(snap.names, []);
  // The source runs on, and what it does next is not in the snapshot.
  assert.equal(await sbx.isRunning(), true);
  await sbx.files.write('/home/user/app/data.txt', 'changed after the snapshot');

  const a = created.add(await Sandbox.create(snap.snapshotId, opts));
  const b = created.add(await Sandbox.create(snap.snapshotId, opts));
  assert.equal(await a.files.read('/home/user/app/config.json'), '{"env":"test"}');
  assert.equal(await a.files.read('/home/user/app/data.txt'), 'important data');
  assert.equal(await sh(a, 'stat -c %a /home/user/app/data.txt'), '750');
  assert.notEqual(await exitOf(a, 'test -e /etc/debian_version'), 0, 'a deleted base file stays deleted');
  assert.equal(await sh(a, 'ls -A /etc/skel'), 'only-this');
  assert.match(await sh(a, 'head -1 /etc/os-release'), /^PRETTY_NAME=/, 'the rest of the base is there');
  const info = await Sandbox.getInfo(a.sandboxId, opts);
  assert.equal(info.templateId, snap.snapshotId.split(':')[0]);

  await a.files.write('/home/user/app/data.txt', 'modified in a');
  assert.equal(await b.files.read('/home/user/app/data.txt'), 'important data');
  assert.equal(await sbx.files.read('/home/user/app/data.txt'), 'changed after the snapshot');

  // A snapshot of a sandbox started from a snapshot stacks on it.
  await b.files.write('/home/user/second.txt', 'layer two');
  const snap2 = await b.createSnapshot(opts);
  snapshots.add(snap2.snapshotId);
  const c = created.add(await Sandbox.create(snap2.snapshotId, opts));
  assert.equal(await c.files.read('/home/user/second.txt'), 'layer two');
  assert.equal(await c.files.read('/home/user/app/config.json'), '{"env":"test"}');
  assert.notEqual(await exitOf(c, 'test -e /etc/debian_version'), 0);

  // Deleting the first while the second stands on it: gone for callers, kept underneath.
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId, opts), true);
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId, opts), false);
  await assert.rejects(Sandbox.create(snap.snapshotId, opts));
  const d = created.add(await Sandbox.create(snap2.snapshotId, opts));
  assert.equal(await d.files.read('/home/user/app/config.json'), '{"env":"test"}');
  // Sandboxes already running on the deleted one keep working.
  assert.equal(await a.files.read('/home/user/app/data.txt'), 'modified in a');
  assert.equal(await Sandbox.deleteSnapshot(snap2.snapshotId, opts), true);
});

test('named snapshots: listed, paged, filtered by sandbox and name, deleted', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  const name = `snap-${runId}`;
  const named = await sbx.createSnapshot({ ...opts, name });
  snapshots.add(named.snapshotId);
  assert.ok(named.names.some((n) => n.includes(name)), JSON.stringify(named));
  assert.ok(named.snapshotId.endsWith(`/${name}:default`), named.snapshotId);
  const plain = [];
  for (let i = 0; i < 2; i++) {
    const s = await Sandbox.createSnapshot(sbx.sandboxId, opts);
    snapshots.add(s.snapshotId);
    plain.push(s.snapshotId);
  }

  // Page by page with limit 1, newest first, every one once.
  const mine = await allSnapshots({ sandboxId: sbx.sandboxId, limit: 1 });
  assert.deepEqual(mine.map((s) => s.snapshotId), [...plain].reverse().concat(named.snapshotId));
  const byInstance = [];
  const pager = sbx.listSnapshots({ ...opts, limit: 2 });
  while (pager.hasNext) byInstance.push(...(await pager.nextItems()));
  assert.equal(byInstance.length, 3);

  assert.deepEqual((await allSnapshots({ name })).map((s) => s.snapshotId), [named.snapshotId]);
  assert.deepEqual(await allSnapshots({ name: `${name}-does-not-exist` }), []);

  // By name as a template.
  const fromName = created.add(await Sandbox.create(name, opts));
  assert.equal(await fromName.isRunning(), true);

  for (const id of plain) assert.equal(await Sandbox.deleteSnapshot(id, opts), true);
  assert.equal(await Sandbox.deleteSnapshot(named.snapshotId, opts), true);
  assert.deepEqual(await allSnapshots({ sandboxId: sbx.sandboxId }), []);
});

test('a paused sandbox can be snapshotted and stays paused; a killed one cannot', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  await sbx.files.write('/home/user/paused.txt', 'while paused');
  assert.equal(await sbx.pause(), true);
  const snap = await Sandbox.createSnapshot(sbx.sandboxId, opts);
  snapshots.add(snap.snapshotId);
  assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).state, 'paused');
  const from = created.add(await Sandbox.create(snap.snapshotId, opts));
  assert.equal(await from.files.read('/home/user/paused.txt'), 'while paused');

  await Sandbox.kill(sbx.sandboxId, opts);
  await assert.rejects(Sandbox.createSnapshot(sbx.sandboxId, opts), SandboxNotFoundError);
  await assert.rejects(Sandbox.fork(sbx.sandboxId, opts), SandboxNotFoundError);
  // The snapshot outlives its sandbox.
  assert.equal((await allSnapshots({ sandboxId: sbx.sandboxId })).length, 1);
});

test('fork into 3: each fork independent, with the source\'s files, env and metadata; the source runs on', async () => {
  const meta = { suite: runId, role: 'source' };
  const src = created.add(await Sandbox.create('base', { ...opts, metadata: meta, envs: { FORK_VAR: 'from-source' } }));
  await src.files.write('/home/user/state.txt', 'state before fork');

  const forks = await src.fork({ ...opts, count: 3, timeoutMs: 120_000 });
  assert.equal(forks.length, 3);
  for (const f of forks) assert.ok(f instanceof Sandbox, String(f));
  forks.forEach((f) => created.add(f));
  const ids = new Set(forks.map((f) => f.sandboxId));
  assert.equal(ids.size, 3);
  assert.ok(!ids.has(src.sandboxId));
  assert.equal(await src.isRunning(), true);

  for (const [i, f] of forks.entries()) {
    assert.equal(await f.files.read('/home/user/state.txt'), 'state before fork');
    assert.equal(await sh(f, 'echo $FORK_VAR'), 'from-source');
    const info = await Sandbox.getInfo(f.sandboxId, opts);
    assert.deepEqual(info.metadata, meta);
    assert.equal(info.templateId, 'base');
    await f.files.write('/home/user/state.txt', `fork ${i}`);
  }
  for (const [i, f] of forks.entries()) assert.equal(await f.files.read('/home/user/state.txt'), `fork ${i}`);
  assert.equal(await src.files.read('/home/user/state.txt'), 'state before fork');
  await src.files.write('/home/user/after.txt', 'x');
  for (const f of forks) assert.equal(await f.files.exists('/home/user/after.txt'), false);

  // The copy the forks started from is not a snapshot anyone sees.
  assert.deepEqual(await allSnapshots({ sandboxId: src.sandboxId }), []);

  // The raw answer says how the forks started (this machine: fresh boots from the copied files).
  const raw = await api('POST', `/sandboxes/${src.sandboxId}/fork`, { count: 1, timeout: 60 });
  assert.equal(raw.status, 201);
  assert.equal(raw.headers.get('x-portal-fork-state'), 'filesystem');
  assert.equal(raw.body.length, 1);
  created.add({ sandboxId: raw.body[0].sandbox.sandboxID });
  assert.equal(await src.isRunning(), true);
});

test('hostile: another team\'s sandbox and snapshot IDs, bad counts', async () => {
  const other = await newTeam('snap-other');
  const sbx = created.add(await Sandbox.create('base', opts));
  const snap = await sbx.createSnapshot({ ...opts, name: `secret-${runId}` });
  snapshots.add(snap.snapshotId);
  const [rawId] = (await api('GET', `/snapshots?sandboxID=${sbx.sandboxId}`)).body.map((s) => s.snapshotID);
  assert.equal(rawId, snap.snapshotId);

  await assert.rejects(Sandbox.createSnapshot(sbx.sandboxId, other.opts), SandboxNotFoundError);
  await assert.rejects(Sandbox.fork(sbx.sandboxId, other.opts), SandboxNotFoundError);
  assert.deepEqual(await allSnapshots({ apiKey: other.key }), []);
  assert.deepEqual(await allSnapshots({ apiKey: other.key, sandboxId: sbx.sandboxId }), []);
  await assert.rejects(Sandbox.create(snap.snapshotId, other.opts));
  // E2B answers 403 for another team's template: the SDK throws instead of saying false.
  await assert.rejects(Sandbox.deleteSnapshot(snap.snapshotId, other.opts), /403/);
  assert.equal(await Sandbox.deleteSnapshot(`secret-${runId}`, other.opts), false);
  assert.equal((await allSnapshots({ sandboxId: sbx.sandboxId })).length, 1);

  for (const count of [0, -1, 101, 1_000_000]) {
    const r = await api('POST', `/sandboxes/${sbx.sandboxId}/fork`, { count });
    assert.equal(r.status, 400, `count ${count}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.code, 400);
  }
  await assert.rejects(Sandbox.fork(sbx.sandboxId, { ...opts, count: 0 }), /400/);
  assert.deepEqual(await allSnapshots({ sandboxId: sbx.sandboxId }).then((l) => l.length), 1);
});
