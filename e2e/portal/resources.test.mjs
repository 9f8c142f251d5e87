// Limits that hold, through the real SDK: /tmp and /dev/shm fill up to their cap and no
// further, the sandbox (envd included) lives on, and a memory-limit kill is in its logs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { opts, tracker, api, sleep } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

test('filling /tmp or /dev/shm ends in "No space left on device", not in a dead sandbox', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  for (const dir of ['/tmp', '/dev/shm']) {
    // 2 GB, four times the sandbox's memory: uncapped, the tmpfs pages exhaust it.
    await assert.rejects(sbx.commands.run(`dd if=/dev/zero of=${dir}/fill bs=1M count=2048`),
      (e) => e.exitCode !== 0 && /No space left on device/.test(e.stderr));
    assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n');
  }
  await sbx.files.write('/home/user/still-writable.txt', 'yes');
  assert.equal(await sbx.files.read('/home/user/still-writable.txt'), 'yes');
});

test('a process killed at the memory limit shows in the sandbox\'s logs; the sandbox lives on', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  await assert.rejects(sbx.commands.run("python3 -c 'a = bytearray(1024 * 1024 * 1024)'"), (e) => e.exitCode !== 0);
  let lines = [];
  for (let i = 0; i < 50 && !lines.some((l) => l.includes('out of memory')); i++) {
    await sleep(200);
    const logs = await api('GET', `/sandboxes/${sbx.sandboxId}/logs`);
    assert.equal(logs.status, 200);
    lines = logs.body.logs.map((l) => l.line);
  }
  assert.ok(lines.some((l) => /out of memory: a process was killed for exceeding the \d+ MB memory limit/.test(l)), lines.join(' | '));
  assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n');
});
