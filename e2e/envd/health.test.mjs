import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';

test('debug-mode sandbox reports running when envd answers /health', async () => {
  const sbx = await Sandbox.create();
  assert.equal(await sbx.isRunning(), true);
});
