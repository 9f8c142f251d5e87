// Control plane through the real SDK: create/info/list/filters/pagination/timeout/pause/
// connect/kill, auth errors, unknown templates, and team isolation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, AuthenticationError, SandboxError, NotFoundError } from 'e2b';
import { opts, runId, newTeam, sleep, tracker, api } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

async function listAll(listOpts) {
  const pager = Sandbox.list({ ...opts, ...listOpts });
  const items = [];
  let pages = 0;
  while (pager.hasNext && pages < 50) {
    items.push(...(await pager.nextItems()));
    pages++;
  }
  return { items, pages };
}

test('create, info and list with metadata filters containing spaces and =', async () => {
  const meta = { suite: runId, 'odd key': 'a b=c&d', plain: 'x' };
  const sbx = created.add(await Sandbox.create('base', { ...opts, metadata: meta }));
  assert.match(sbx.sandboxId, /^[a-z0-9]{20}$/);

  const info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, 'base');
  assert.equal(info.state, 'running');
  assert.deepEqual(info.metadata, meta);
  assert.ok(info.endAt > info.startedAt);

  const hit = await listAll({ query: { metadata: { 'odd key': 'a b=c&d', suite: runId } } });
  assert.deepEqual(hit.items.map((s) => s.sandboxId), [sbx.sandboxId]);
  const miss = await listAll({ query: { metadata: { 'odd key': 'a b=c', suite: runId } } });
  assert.equal(miss.items.length, 0);
});

test('pagination with limit 1 visits every sandbox once, in both orders', async () => {
  const tag = runId + '-pages';
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push(created.add(await Sandbox.create('base', { ...opts, metadata: { tag } })).sandboxId);
    await sleep(5);
  }
  const desc = await listAll({ limit: 1, query: { metadata: { tag } } });
  assert.deepEqual(desc.items.map((s) => s.sandboxId), [...ids].reverse());
  assert.equal(desc.pages, 3);
  const asc = await listAll({ limit: 1, order: 'asc', query: { metadata: { tag } } });
  assert.deepEqual(asc.items.map((s) => s.sandboxId), ids);
});

test('state filters: running, paused, both', async () => {
  const tag = runId + '-state';
  const running = created.add(await Sandbox.create('base', { ...opts, metadata: { tag } }));
  const paused = created.add(await Sandbox.create('base', { ...opts, metadata: { tag } }));
  assert.equal(await paused.pause(), true);
  const ids = async (state) => (await listAll({ query: { metadata: { tag }, state } })).items.map((s) => s.sandboxId).sort();
  assert.deepEqual(await ids(['running']), [running.sandboxId]);
  assert.deepEqual(await ids(['paused']), [paused.sandboxId]);
  assert.deepEqual(await ids(['running', 'paused']), [running.sandboxId, paused.sandboxId].sort());
  assert.deepEqual(await ids(undefined), [running.sandboxId, paused.sandboxId].sort());
});

test('setTimeout moves the deadline (and may shorten it)', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, timeoutMs: 600_000 }));
  const before = (await sbx.getInfo()).endAt;
  await sbx.setTimeout(30_000);
  const after = (await sbx.getInfo()).endAt;
  assert.ok(after < before, 'shortened');
  assert.ok(Math.abs(after.getTime() - Date.now() - 30_000) < 5_000);
  await sbx.setTimeout(900_000);
  assert.ok((await sbx.getInfo()).endAt > before);
});

test('pause → isRunning false → connect resumes it (a running process survives)', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  const handle = await sbx.commands.run('sleep 600', { background: true, timeoutMs: 0 });
  assert.equal(await sbx.isRunning(), true);
  assert.equal(await sbx.pause(), true);
  assert.equal(await sbx.isRunning(), false);
  assert.equal(await sbx.pause(), false, 'pausing a paused sandbox returns false (409)');
  assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).state, 'paused');

  const again = await Sandbox.connect(sbx.sandboxId, opts);
  assert.equal(await again.isRunning(), true);
  const procs = await again.commands.list();
  assert.ok(procs.some((p) => p.pid === handle.pid), 'background process still there');
  assert.equal((await again.commands.run('echo alive')).stdout.trim(), 'alive');
});

test('connect to a running sandbox never shortens its deadline', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, timeoutMs: 600_000 }));
  const end0 = (await sbx.getInfo()).endAt;
  await Sandbox.connect(sbx.sandboxId, { ...opts, timeoutMs: 10_000 });
  assert.equal((await sbx.getInfo()).endAt.getTime(), end0.getTime());
});

test('kill, kill again, info after kill', async () => {
  const sbx = await Sandbox.create('base', opts);
  assert.equal(await sbx.kill(), true);
  assert.equal(await Sandbox.kill(sbx.sandboxId, opts), false);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, opts), NotFoundError);
  await assert.rejects(Sandbox.connect(sbx.sandboxId, opts), NotFoundError);
  assert.equal(await sbx.isRunning(), false);
});

test('a short timeout really ends the sandbox', async () => {
  const sbx = await Sandbox.create('base', { ...opts, timeoutMs: 2_000 });
  assert.equal(await sbx.isRunning(), true);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (await sbx.isRunning())) await sleep(250);
  assert.equal(await sbx.isRunning(), false);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, opts), NotFoundError);
});

test('setTimeout(0) is accepted and ends the sandbox now', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, timeoutMs: 600_000 }));
  await sbx.setTimeout(0);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (await sbx.isRunning())) await sleep(250);
  assert.equal(await sbx.isRunning(), false);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, opts), NotFoundError);
});

test('a wrong key is an AuthenticationError', async () => {
  const bad = { ...opts, apiKey: 'e2b_' + '1'.repeat(40) };
  await assert.rejects(Sandbox.create('base', bad), AuthenticationError);
  await assert.rejects(Sandbox.list(bad).nextItems(), AuthenticationError);
});

test('an unknown template is a clear 4xx', async () => {
  await assert.rejects(Sandbox.create('no-such-template-' + runId, opts), (e) => {
    assert.ok(e instanceof SandboxError);
    assert.match(e.message, /^400: template 'no-such-template-.*' not found/);
    return true;
  });
});

test("a second team's key can't see, connect to or kill the first team's sandbox", async () => {
  const a = await newTeam('a');
  const b = await newTeam('b');
  const sbx = created.add(await Sandbox.create('base', { ...a.opts, metadata: { suite: runId } }));
  const seen = await Sandbox.list({ ...b.opts, query: { metadata: { suite: runId } } }).nextItems();
  assert.equal(seen.length, 0);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, b.opts), NotFoundError);
  await assert.rejects(Sandbox.connect(sbx.sandboxId, b.opts), NotFoundError);
  assert.equal(await Sandbox.kill(sbx.sandboxId, b.opts), false);
  assert.equal(await sbx.isRunning(), true);
  // The owner and the admin still see it.
  assert.equal((await Sandbox.getInfo(sbx.sandboxId, a.opts)).sandboxId, sbx.sandboxId);
  assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).sandboxId, sbx.sandboxId);
  // Keys of team B, revoked, stop working at once.
  const keys = await api('GET', '/api-keys', undefined, b.key);
  assert.equal(keys.status, 200);
});
