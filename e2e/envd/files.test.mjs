import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { FileType, NotFoundError } from 'e2b';
import { sandbox, tempDir } from './helpers.mjs';

let sbx;
let dir;
before(async () => { sbx = await sandbox(); dir = await tempDir(sbx, 'files'); });

test('write and read text', async () => {
  const info = await sbx.files.write(`${dir}/hello.txt`, 'hello world');
  assert.equal(info.path, `${dir}/hello.txt`);
  assert.equal(info.name, 'hello.txt');
  assert.equal(await sbx.files.read(`${dir}/hello.txt`), 'hello world');
});

test('write and read bytes, relative paths resolve against home', async () => {
  const data = new Uint8Array([0, 1, 2, 250, 255]);
  const rel = `${dir.replace('/home/user/', '')}/bytes.bin`;
  await sbx.files.write(rel, data.buffer);
  const back = await sbx.files.read(`${dir}/bytes.bin`, { format: 'bytes' });
  assert.deepEqual([...back], [...data]);
});

test('several files at once, nested directories created', async () => {
  const infos = await sbx.files.write([
    { path: `${dir}/multi/a.txt`, data: 'A' },
    { path: `${dir}/multi/deep/b.txt`, data: 'B' },
  ]);
  assert.deepEqual(infos.map((i) => i.name), ['a.txt', 'b.txt']);
  assert.equal(await sbx.files.read(`${dir}/multi/deep/b.txt`), 'B');
});

test('list with depth, in lexical walk order', async () => {
  const base = `${dir}/tree`;
  await sbx.files.write([
    { path: `${base}/file1.txt`, data: '1' },
    { path: `${base}/subdir1/a.txt`, data: 'a' },
    { path: `${base}/subdir1/b.txt`, data: 'b' },
    { path: `${base}/subdir2/c.txt`, data: 'c' },
  ]);
  const one = await sbx.files.list(base);
  assert.deepEqual(one.map((e) => e.name), ['file1.txt', 'subdir1', 'subdir2']);
  const two = await sbx.files.list(base, { depth: 2 });
  assert.deepEqual(two.map((e) => e.path.replace(base + '/', '')), ['file1.txt', 'subdir1', 'subdir1/a.txt', 'subdir1/b.txt', 'subdir2', 'subdir2/c.txt']);
  const sub = two.find((e) => e.name === 'subdir1');
  assert.equal(sub.type, FileType.DIR);
  assert.ok(sub.size > 0);
});

test('stat reports type, size, mode, owner and times', async () => {
  await sbx.files.write(`${dir}/stat.txt`, '12345');
  const info = await sbx.files.getInfo(`${dir}/stat.txt`);
  assert.equal(info.type, FileType.FILE);
  assert.equal(info.size, 5);
  assert.equal(info.mode, 0o644);
  assert.equal(info.permissions, '-rw-r--r--');
  assert.equal(info.owner, 'user');
  assert.equal(info.group, 'user');
  assert.ok(info.modifiedTime instanceof Date);
  assert.equal(info.symlinkTarget, undefined);
});

test('symlinks report their target', async () => {
  await sbx.files.write(`${dir}/target.txt`, 't');
  await sbx.commands.run(`ln -s ${dir}/target.txt ${dir}/link.txt`);
  const info = await sbx.files.getInfo(`${dir}/link.txt`);
  assert.equal(info.name, 'link.txt');
  assert.equal(info.symlinkTarget, `${dir}/target.txt`);
});

test('exists, makeDir twice, rename, remove', async () => {
  assert.equal(await sbx.files.exists(`${dir}/nope`), false);
  assert.equal(await sbx.files.makeDir(`${dir}/made/inner`), true);
  assert.equal(await sbx.files.makeDir(`${dir}/made/inner`), false);
  assert.equal(await sbx.files.exists(`${dir}/made/inner`), true);
  await sbx.files.write(`${dir}/old.txt`, 'move me');
  const moved = await sbx.files.rename(`${dir}/old.txt`, `${dir}/new.txt`);
  assert.equal(moved.path, `${dir}/new.txt`);
  assert.equal(await sbx.files.exists(`${dir}/old.txt`), false);
  await sbx.files.remove(`${dir}/made`);
  assert.equal(await sbx.files.exists(`${dir}/made`), false);
  await sbx.files.remove(`${dir}/never-existed`); // no error
});

test('missing files raise NotFoundError', async () => {
  await assert.rejects(sbx.files.read(`${dir}/missing.txt`), NotFoundError);
  await assert.rejects(sbx.files.getInfo(`${dir}/missing.txt`), NotFoundError);
  await assert.rejects(sbx.files.list(`${dir}/missing-dir`), NotFoundError);
  await assert.rejects(sbx.files.rename(`${dir}/missing.txt`, `${dir}/x.txt`), NotFoundError);
});

test('new files and missing folders are made as root and handed to the caller, as E2B does', async () => {
  // /opt belongs to root: the caller could not have made these folders itself.
  const made = `/opt/e2e-made-${process.pid}-${Date.now()}`;
  try {
    const infos = await sbx.files.write([
      { path: `${made}/a/one.txt`, data: '1' },
      { path: `${made}/b/c/two.txt`, data: '22' },
    ]);
    assert.deepEqual(infos.map((i) => i.path), [`${made}/a/one.txt`, `${made}/b/c/two.txt`]);
    for (const p of [made, `${made}/a`, `${made}/b/c`, `${made}/a/one.txt`, `${made}/b/c/two.txt`]) {
      const info = await sbx.files.getInfo(p);
      assert.deepEqual([info.owner, info.group], ['user', 'user'], p);
    }
    assert.equal(await sbx.files.read(`${made}/b/c/two.txt`), '22');
  } finally {
    await sbx.files.remove(made, { user: 'root' });
  }
});

test('an existing file the caller may not write is refused and left as it was', async () => {
  const secret = `/root/e2e-secret-${process.pid}-${Date.now()}`;
  await sbx.files.write(secret, 'top secret', { user: 'root' });
  try {
    await assert.rejects(sbx.files.write(secret, 'overwritten'), (e) => e.message.includes(secret));
    await assert.rejects(sbx.files.read(secret)); // /root is closed to the default user
    assert.equal(await sbx.files.read(secret, { user: 'root' }), 'top secret');
    assert.equal((await sbx.files.getInfo(secret, { user: 'root' })).owner, 'root');
  } finally {
    await sbx.files.remove(secret, { user: 'root' });
  }
});

test('kernel files whose size reads as 0 (procfs) or as a page (sysfs) arrive whole', async () => {
  assert.match(await sbx.files.read('/proc/self/status'), /^Name:\t/m);
  assert.match(await sbx.files.read('/proc/cpuinfo'), /^processor\s*:/m);
  assert.match(await sbx.files.read('/proc/cpuinfo', { gzip: true }), /^processor\s*:/m);
  assert.match(await sbx.files.read('/sys/class/net/lo/mtu'), /^\d+\n$/);
});

test('gzip in both directions', async () => {
  const text = 'compress me '.repeat(1000);
  await sbx.files.write(`${dir}/gz.txt`, text, { gzip: true });
  assert.equal(await sbx.files.read(`${dir}/gz.txt`, { gzip: true }), text);
  assert.equal(await sbx.files.read(`${dir}/gz.txt`), text);
});

test('metadata is stored with the file and returned', async () => {
  const info = await sbx.files.write(`${dir}/meta.txt`, 'm', { metadata: { Owner: 'team-a', purpose: 'e2e' } });
  assert.deepEqual(info.metadata, { owner: 'team-a', purpose: 'e2e' });
  const stat = await sbx.files.getInfo(`${dir}/meta.txt`);
  assert.deepEqual(stat.metadata, { owner: 'team-a', purpose: 'e2e' });
  await sbx.files.write(`${dir}/meta.txt`, 'm2', { metadata: { only: 'this' } });
  assert.deepEqual((await sbx.files.getInfo(`${dir}/meta.txt`)).metadata, { only: 'this' });
});

test('a 5 MB round trip keeps every byte', async () => {
  const data = randomBytes(5 * 1024 * 1024);
  await sbx.files.write(`${dir}/big.bin`, data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  const back = await sbx.files.read(`${dir}/big.bin`, { format: 'bytes' });
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  assert.equal(sha(back), sha(data));
});

test('unicode file names', async () => {
  const name = `${dir}/héllo wörld ✓ 日本.txt`;
  await sbx.files.write(name, 'ünïcödé');
  assert.equal(await sbx.files.read(name), 'ünïcödé');
  const listed = await sbx.files.list(dir);
  assert.ok(listed.some((e) => e.name === 'héllo wörld ✓ 日本.txt'));
});
