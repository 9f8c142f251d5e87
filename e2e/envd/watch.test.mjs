import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { FilesystemEventType, NotFoundError } from 'e2b';
import { sandbox, tempDir, eventually } from './helpers.mjs';

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
