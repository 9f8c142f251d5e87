// Webhooks through the real SDK and plain fetch (E2B's SDKs have no webhook API; its docs show
// fetch): a team registers a receiver on 127.0.0.1, creates, pauses, resumes and kills a sandbox
// with the SDK, and the receiver gets the four events in order, each signed as E2B signs them
// (SHA-256 over secret + raw body, URL-safe base64 without padding) and equal to what the events
// API returns. The portal under test allows private targets (scripts/e2e-portal.sh sets it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { Sandbox } from 'e2b';
import { api, newTeam, tracker, sleep } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

const SECRET = 'whsec-e2e-' + Date.now();

// The receiver example from docs/api.md, plus bookkeeping for the test.
function verify(secret, rawBody, signature) {
  const expected = createHash('sha256').update(secret).update(rawBody).digest('base64url');
  return expected === signature;
}

function startReceiver() {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      got.push({
        valid: verify(SECRET, raw, req.headers['e2b-signature']),
        version: req.headers['e2b-signature-version'],
        webhookId: req.headers['e2b-webhook-id'],
        deliveryId: req.headers['e2b-delivery-id'],
        raw: raw.toString('utf8'),
        event: JSON.parse(raw.toString('utf8')),
      });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, got, url: `http://127.0.0.1:${server.address().port}/e2b` })));
}

test('webhook CRUD with fetch; create/pause/resume/kill with the SDK arrive signed and in order', async () => {
  const team = await newTeam('webhooks');
  const receiver = await startReceiver();
  try {
    const hook = await api('POST', '/events/webhooks', {
      name: 'e2e', url: receiver.url, enabled: true, signatureSecret: SECRET,
      events: ['sandbox.lifecycle.created', 'sandbox.lifecycle.paused', 'sandbox.lifecycle.resumed', 'sandbox.lifecycle.killed'],
    }, team.key);
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    assert.equal(hook.body.teamID, team.teamID);
    assert.equal(hook.body.teamId, team.teamID);
    assert.equal(hook.body.signatureSecret, undefined);
    const list = await api('GET', '/events/webhooks', undefined, team.key);
    assert.deepEqual(list.body.map((h) => h.id), [hook.body.id]);
    const other = await newTeam('webhooks-other');
    assert.equal((await api('GET', `/events/webhooks/${hook.body.id}`, undefined, other.key)).status, 404);

    const sbx = created.add(await Sandbox.create('base', team.opts));
    await sbx.pause();
    const again = await Sandbox.connect(sbx.sandboxId, team.opts);
    await again.kill();

    for (let i = 0; i < 300 && receiver.got.length < 4; i++) await sleep(100);
    const mine = receiver.got.filter((d) => d.event.sandboxId === sbx.sandboxId);
    assert.deepEqual(mine.map((d) => d.event.type.replace('sandbox.lifecycle.', '')), ['created', 'paused', 'resumed', 'killed']);
    for (const d of mine) {
      assert.ok(d.valid, 'signature verifies');
      assert.equal(d.version, 'v1');
      assert.equal(d.webhookId, hook.body.id);
    }
    assert.equal(new Set(mine.map((d) => d.deliveryId)).size, 4);
    const events = await api('GET', `/events/sandboxes/${sbx.sandboxId}?orderAsc=true`, undefined, team.key);
    assert.deepEqual(mine.map((d) => d.raw), events.body.map((e) => JSON.stringify(e)));

    const log = await api('GET', `/events/webhooks/${hook.body.id}/deliveries`, undefined, team.key);
    assert.equal(log.status, 200);
    assert.equal(log.body.filter((a) => a.outcome === 'delivered').length, 4);

    const patched = await api('PATCH', `/events/webhooks/${hook.body.id}`, { enabled: false }, team.key);
    assert.equal(patched.status, 200);
    assert.equal(patched.body.enabled, false);
    assert.equal(patched.body.url, receiver.url);
    const bad = await api('POST', '/events/webhooks', { url: 'ftp://x', events: [], signatureSecret: 'x' }, team.key);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 400);
    assert.equal((await api('DELETE', `/events/webhooks/${hook.body.id}`, undefined, team.key)).status, 200);
    assert.equal((await api('GET', `/events/webhooks/${hook.body.id}`, undefined, team.key)).status, 404);
  } finally {
    receiver.server.close();
  }
});
