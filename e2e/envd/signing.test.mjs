import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxWithToken } from './helpers.mjs';

// The SDK signs URLs only for a sandbox with an access token, which debug mode never has:
// a second envd with --access-token plays the sandbox the control plane would hand out.
let env;
before(async () => { env = await sandboxWithToken('e2e-secret-token'); });
after(async () => { await env?.stop(); });

test('the access token is required for RPC and files, and the SDK sends it', async () => {
  assert.equal((await fetch(`${env.base}/health`)).status, 204);
  const denied = await fetch(`${env.base}/files?path=/etc/hostname`);
  assert.equal(denied.status, 401);
  assert.equal((await denied.json()).message, 'missing signature query parameter');
  const r = await env.sbx.commands.run('echo via-token');
  assert.equal(r.stdout, 'via-token\n');
});

test('signed upload and download URLs work with plain fetch', async () => {
  const path = `/home/user/e2e-signed-${process.pid}.txt`;
  const up = await env.sbx.uploadUrl(path);
  const form = new FormData();
  form.append('file', new Blob(['signed content']), path);
  const res = await fetch(up, { method: 'POST', body: form });
  assert.equal(res.status, 200, await res.clone().text());
  const down = await env.sbx.downloadUrl(path);
  const got = await fetch(down);
  assert.equal(got.status, 200);
  assert.equal(await got.text(), 'signed content');
  await env.sbx.files.remove(path);
});

test('a tampered or wrong-operation signature is refused', async () => {
  const down = new URL(await env.sbx.downloadUrl('/etc/hostname'));
  const tampered = new URL(down);
  tampered.searchParams.set('path', '/etc/passwd');
  const bad = await fetch(tampered);
  assert.equal(bad.status, 401);
  assert.equal((await bad.json()).message, 'invalid signature');
  // a read signature does not allow a write
  const write = await fetch(down, { method: 'POST', body: new FormData() });
  assert.equal(write.status, 401);
});

test('an expired signature is refused with the exact message', async () => {
  const url = await env.sbx.downloadUrl('/etc/hostname', { useSignatureExpiration: 1 });
  await new Promise((r) => setTimeout(r, 2100));
  const res = await fetch(url);
  assert.equal(res.status, 401);
  assert.deepEqual(await res.json(), { code: 401, message: 'signature is already expired' });
});
