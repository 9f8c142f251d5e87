// The code interpreter as a service: warm at create, interrupted when the client goes away,
// keepalives, reconnect, and the SDK's error when the sandbox is killed mid-run.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '@e2b/code-interpreter';
import { TimeoutError } from 'e2b';
import { sleep } from '../portal/_env.mjs';
import { sandboxes, sh, opts } from './_sandbox.mjs';

const pool = sandboxes();
after(() => pool.cleanup());
let sbx;

test('the kernel is ready at create: the first runCode does not wait for it', async () => {
  sbx = await pool.create();
  // The server started (and its ready command passed) before the create returned.
  const ps = await sh(sbx, 'ps -eo args');
  assert.match(ps.stdout, /code-interpreter\/server\.py/);
  assert.match(ps.stdout, /ipykernel/);
  const r = await sbx.runCode('1+1');
  assert.equal(r.text, '2');
});

test('interrupt by disconnect: a timed-out run is interrupted, the next one runs', async () => {
  await assert.rejects(sbx.runCode('import time; time.sleep(300)', { timeoutMs: 3_000 }));
  await sleep(1_000);
  const r = await sbx.runCode('1 + 1', { timeoutMs: 10_000 });
  assert.equal(r.text, '2');
  // The interrupted run ended with KeyboardInterrupt; the kernel and its state survived.
  await sbx.runCode('kept = 5');
  await assert.rejects(sbx.runCode('import time; time.sleep(300)', { timeoutMs: 2_000 }));
  assert.equal((await sbx.runCode('kept', { timeoutMs: 10_000 })).text, '5');
});

test('long silences keep the stream alive (keepalives), the run completes', async () => {
  const r = await sbx.runCode('import time; time.sleep(6); "woke"', { timeoutMs: 30_000 });
  assert.equal(r.text, 'woke');
});

test('reconnect: Sandbox.connect and runCode', async () => {
  const again = await Sandbox.connect(sbx.sandboxId, opts);
  assert.equal((await again.runCode('x =1; x')).text, '1');
});

test('killed sandbox: runCode rejects with the SDK TimeoutError', async () => {
  const execution = sbx.runCode('import time; time.sleep(300)', { timeoutMs: 300_000 });
  const outcome = execution.then(() => 'resolved', (e) => e);
  await sleep(2_000);
  await sbx.kill();
  pool.forget(sbx.sandboxId);
  const e = await outcome;
  assert.ok(e instanceof TimeoutError, `expected TimeoutError, got ${e}`);
  assert.match(e.message, /sandbox was killed while the request was in progress/);
});
