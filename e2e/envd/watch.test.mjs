import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { FilesystemEventType, NotFoundError } from 'e2b';
import { sandbox, tempDir, eventually, sleep } from './helpers.mjs';

let sbx;
let dir;
before(async () => { sbx = await sandbox(); dir = await tempDir(sbx, 'watch'); });

test('watch reports create, write and remove', async () => {
  const events = [];
  const w = await sbx.files.watchDir(dir, (e) => events.push(e));
  await sbx.files.write(`${dir}/a.txt`, 'a');
  await sbx.files.remove(`${dir}/a.txt`);
  const seen = (type) => events.some((e) => e.name === 'a.txt' && e.type === type);
  assert.ok(await eventually(() => seen(FilesystemEventType.CREATE) && seen(FilesystemEventType.WRITE) && seen(FilesystemEventType.REMOVE)), JSON.stringify(events));
  await w.stop();
});

test('a new file written through files.write shows create, chmod, write, as under E2B', async () => {
  // E2B's envd creates the file as root, hands it to the user, then writes it.
  const sub = `${dir}/order`;
  await sbx.files.makeDir(sub);
  const events = [];
  const w = await sbx.files.watchDir(sub, (e) => events.push(`${e.name} ${e.type}`));
  await sbx.files.write(`${sub}/new.txt`, 'hello');
  await eventually(() => events.length >= 3);
  await sleep(300); // and nothing after them
  await w.stop();
  assert.deepEqual(events, ['new.txt create', 'new.txt chmod', 'new.txt write']);
});

test('recursive watch sees new subdirectories and names paths relative to the watched dir', async () => {
  const events = [];
  const w = await sbx.files.watchDir(dir, (e) => events.push(e), { recursive: true });
  await sbx.files.makeDir(`${dir}/nested`);
  await sbx.files.write(`${dir}/nested/file.txt`, 'x');
  assert.ok(await eventually(() => events.some((e) => e.name === 'nested/file.txt' && e.type === FilesystemEventType.WRITE)), JSON.stringify(events));
  await w.stop();
});

test('includeEntry attaches the entry', async () => {
  const events = [];
  const w = await sbx.files.watchDir(dir, (e) => events.push(e), { includeEntry: true });
  await sbx.files.write(`${dir}/with-entry.txt`, 'entry');
  const e = await eventually(() => events.find((x) => x.name === 'with-entry.txt' && x.type === FilesystemEventType.WRITE && x.entry));
  assert.ok(e, JSON.stringify(events));
  assert.equal(e.entry.path, `${dir}/with-entry.txt`);
  await w.stop();
});

test('watching a missing directory fails with NotFoundError', async () => {
  await assert.rejects(sbx.files.watchDir(`${dir}/missing`, () => {}), NotFoundError);
});
