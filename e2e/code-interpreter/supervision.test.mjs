// Supervision: the port-49999 server and the kernel, killed with kill -9 as root from inside the
// sandbox, come back (envd restarts the template's start command; the server restarts kernels).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../portal/_env.mjs';
import { sandboxes, sh, waitForHealth } from './_sandbox.mjs';

const pool = sandboxes();
after(() => pool.cleanup());
let sbx;

test('the kernel killed with kill -9 as root is restarted', async () => {
  sbx = await pool.create();
  await sbx.runCode('before = 1');
  await sh(sbx, "kill -9 $(pgrep -f '[i]pykernel_launcher')");
  let r;
  for (let i = 0; i < 120; i++) {
    r = await sbx.runCode('x = 1; x', { timeoutMs: 10_000 }).catch((e) => e);
    if (r?.text === '1') break;
    await sleep(250);
  }
  assert.equal(r.text, '1');
  assert.equal((await sbx.runCode('before')).error?.name, 'NameError', 'a new kernel: state is gone');
});

test('the port-49999 server killed with kill -9 as root comes back', async () => {
  assert.ok(await waitForHealth(sbx));
  const before = (await sh(sbx, "pgrep -f '[c]ode-interpreter/server.py'")).stdout.trim();
  await sh(sbx, "kill -9 $(pgrep -f '[c]ode-interpreter/server.py')");
  assert.ok(await waitForHealth(sbx, 240, 250), 'health came back');
  const after = (await sh(sbx, "pgrep -f '[c]ode-interpreter/server.py'")).stdout.trim();
  assert.notEqual(after, before, 'a new server process');
  const r = await sbx.runCode('x = 1; x');
  assert.equal(r.text, '1');
  // The old server's kernels ended with it: one Python kernel (the new default context) remains.
  for (let i = 0; i < 40; i++) {
    if ((await sh(sbx, "pgrep -fc '[i]pykernel_launcher'")).stdout?.trim() === '1') break;
    await sleep(250);
  }
  assert.equal((await sh(sbx, "pgrep -fc '[i]pykernel_launcher'")).stdout.trim(), '1');
});
