// E2B parity through the portal with the real SDK and the local runtime: deadlines that kill
// what the SDK gave up on, kernel files, and what an upload looks like to a watcher.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, TimeoutError } from 'e2b';
import { opts, tracker, sleep } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

let sbx;
before(async () => { sbx = created.add(await Sandbox.create('base', opts)); });

async function eventually(check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v || Date.now() > end) return v;
    await sleep(100);
  }
}

test('timeoutMs kills a background command through the portal even though the SDK gives up first', async () => {
  const h = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 2000 });
  await assert.rejects(h.wait(), TimeoutError);
  assert.ok(await eventually(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid)), `pid ${h.pid} is still listed after its deadline`);
  assert.equal((await sbx.commands.run(`test -e /proc/${h.pid} && echo alive || echo gone`)).stdout, 'gone\n');
});

test('a command\'s deadline still kills it after the SDK disconnected, through the portal', async () => {
  // The deadline belongs to the process, not to the request that started it.
  const h = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 3000 });
  await h.disconnect();
  await sleep(500);
  assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid), 'a disconnect alone must not kill');
  assert.ok(await eventually(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), 8000), `pid ${h.pid} outlived its deadline`);
});

test('procfs files arrive whole through the portal', async () => {
  assert.match(await sbx.files.read('/proc/self/status'), /^Name:\t/m);
  assert.match(await sbx.files.read('/proc/cpuinfo'), /^processor\s*:/m);
});

test('an upload shows create, chmod, write to a watcher and makes missing folders for the user', async () => {
  await sbx.files.makeDir('/home/user/watched');
  const events = [];
  const w = await sbx.files.watchDir('/home/user/watched', (e) => events.push(`${e.name} ${e.type}`));
  await sbx.files.write('/home/user/watched/new.txt', 'hello');
  await eventually(() => events.length >= 3);
  await sleep(300);
  await w.stop();
  assert.deepEqual(events, ['new.txt create', 'new.txt chmod', 'new.txt write']);

  await sbx.files.write([{ path: '/opt/made/a.txt', data: 'a' }, { path: '/opt/made/deep/b.txt', data: 'b' }]);
  for (const p of ['/opt/made', '/opt/made/deep', '/opt/made/deep/b.txt']) assert.equal((await sbx.files.getInfo(p)).owner, 'user', p);
});
