// Lifecycle events through the real SDK and plain fetch (as E2B's docs show them used): a sandbox
// is created, paused, resumed, given a new timeout and killed with the SDK; its events are read
// back with every query parameter; another team sees none of them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { opts, api, newTeam, tracker, runId } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

const short = (events) => events.map((e) => e.type.replace('sandbox.lifecycle.', ''));

test('create, pause, resume, setTimeout, kill: each is an event, readable every way', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, metadata: { run: runId } }));
  await sbx.pause();
  const again = await Sandbox.connect(sbx.sandboxId, opts);
  await again.setTimeout(120_000);
  await again.kill();

  const path = `/events/sandboxes/${sbx.sandboxId}`;
  const all = await api('GET', path);
  assert.equal(all.status, 200);
  assert.deepEqual(short(all.body), ['killed', 'updated', 'resumed', 'paused', 'created']);
  for (const e of all.body) {
    assert.equal(e.version, 'v2');
    assert.equal(e.sandboxId, sbx.sandboxId);
    assert.equal(e.sandboxTemplateId, 'base');
    assert.equal(e.eventData.sandbox_metadata.run, runId);
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
  }
  assert.equal(all.body[0].eventData.kill_reason, 'request');
  assert.ok(Date.parse(all.body[1].eventData.set_timeout) > Date.now() + 100_000);

  assert.deepEqual(short((await api('GET', `${path}?orderAsc=true`)).body), ['created', 'paused', 'resumed', 'updated', 'killed']);
  assert.deepEqual(short((await api('GET', `${path}?limit=2&offset=1`)).body), ['updated', 'resumed']);
  assert.deepEqual(short((await api('GET', `${path}?types=sandbox.lifecycle.created&types=sandbox.lifecycle.killed`)).body), ['killed', 'created']);
  const team = await api('GET', '/events/sandboxes?limit=100&types=sandbox.lifecycle.paused');
  assert.ok(team.body.some((e) => e.sandboxId === sbx.sandboxId));
  assert.equal((await api('GET', `${path}?limit=0`)).status, 400);

  const other = await newTeam('events-other');
  assert.deepEqual((await api('GET', '/events/sandboxes?limit=100', undefined, other.key)).body, []);
  const hidden = await api('GET', path, undefined, other.key);
  assert.equal(hidden.status, 404);
  assert.equal(hidden.body.code, 404);
});
