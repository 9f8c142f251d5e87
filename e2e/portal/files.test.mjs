// Files through the proxy and signed URLs fetched with plain fetch (no routing headers).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { opts, tracker } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

test('files write/read/list through the proxy', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  await sbx.files.write('/home/user/dir/hello.txt', 'hello files');
  assert.equal(await sbx.files.read('/home/user/dir/hello.txt'), 'hello files');
  const entries = await sbx.files.list('/home/user/dir');
  assert.deepEqual(entries.map((e) => e.name), ['hello.txt']);
  assert.equal((await sbx.commands.run('cat /home/user/dir/hello.txt')).stdout, 'hello files');
});

test('signed upload and download URLs work with plain fetch', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, secure: true }));
  const other = created.add(await Sandbox.create('base', { ...opts, secure: true }));
  const path = '/home/user/signed.txt';

  const upUrl = await sbx.uploadUrl(path, { useSignatureExpiration: 60_000 });
  assert.match(upUrl, /signature=/);
  const form = new FormData();
  form.append('file', new Blob(['via signed url']), path);
  const up = await fetch(upUrl, { method: 'POST', body: form });
  assert.equal(up.status, 200, await up.clone().text());

  const downUrl = await sbx.downloadUrl(path);
  const down = await fetch(downUrl);
  assert.equal(down.status, 200);
  assert.equal(await down.text(), 'via signed url');
  assert.equal(await other.files.exists(path), false, 'landed in the right sandbox only');

  const forged = downUrl.replace(/signature=[^&]+/, 'signature=v1_forged');
  assert.equal((await fetch(forged)).status, 401);
});

test('files survive pause and connect', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  await sbx.files.write('/home/user/keep.txt', 'kept');
  assert.equal(await sbx.pause(), true);
  const again = await Sandbox.connect(sbx.sandboxId, opts);
  assert.equal(await again.files.read('/home/user/keep.txt'), 'kept');
});
