// Every way in to port 49999 with the real @e2b/code-interpreter SDK: header routing, the private
// /kruise protocol, and the native protocol over HTTPS (as e2e/portal/ways-in.test.mjs for envd).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '@e2b/code-interpreter';
import { PORTAL_URL, API_KEY, TLS_DOMAIN, resolveTlsDomainToLoopback } from '../portal/_env.mjs';
import { sandboxes, TEMPLATE, opts } from './_sandbox.mjs';

const pool = sandboxes();
after(() => pool.cleanup());

resolveTlsDomainToLoopback();

async function exercise(sbx) {
  const streamed = [];
  const r = await sbx.runCode('print("hi"); 6 * 7', { onStdout: (o) => streamed.push(o.line) });
  assert.equal(r.text, '42');
  assert.deepEqual(streamed, ['hi\n']);
  const context = await sbx.createCodeContext({ language: 'js' });
  assert.ok((await sbx.listCodeContexts()).some((c) => c.id === context.id));
  assert.equal((await sbx.runCode('[1, 2].length', { context })).text, '2');
  await sbx.restartCodeContext(context);
  await sbx.removeCodeContext(context);
}

test('way in: header routing (one URL for the API and the sandbox)', async () => {
  const sbx = await pool.create();
  assert.equal(sbx.jupyterUrl, PORTAL_URL);
  await exercise(sbx);
});

test('way in: private protocol (/kruise/api, /kruise/<id>/49999)', async () => {
  const priv = { apiKey: API_KEY, apiUrl: `${PORTAL_URL}/kruise/api`, requestTimeoutMs: 30_000 };
  const created = await Sandbox.create(TEMPLATE, priv);
  pool.forget(created.sandboxId);
  try {
    // OpenKruise's patch builds D/kruise/<id>/<port>; emulated with sandboxUrl for port 49999.
    const sandboxUrl = `${PORTAL_URL}/kruise/${created.sandboxId}/49999`;
    const sbx = await Sandbox.connect(created.sandboxId, { ...priv, sandboxUrl });
    // The path alone routes: plain fetch without E2b-Sandbox-* headers.
    const health = await fetch(`${sandboxUrl}/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.json(), 'OK');
    await exercise(sbx);
  } finally {
    await Sandbox.kill(created.sandboxId, opts).catch(() => {});
  }
});

test('way in: native protocol over HTTPS (https://49999-<id>.<domain>)', { skip: !TLS_DOMAIN && 'PORTAL_TLS_DOMAIN not set' }, async () => {
  const native = { apiKey: API_KEY, domain: TLS_DOMAIN, requestTimeoutMs: 30_000 };
  const sbx = await Sandbox.create(TEMPLATE, native);
  try {
    assert.equal(sbx.jupyterUrl, `https://49999-${sbx.sandboxId}.${TLS_DOMAIN}`);
    await exercise(sbx);
  } finally {
    await Sandbox.kill(sbx.sandboxId, opts).catch(() => {});
  }
});

test('secure sandbox: runCode works and create-time env vars reach the kernel (envd token forwarded)', async () => {
  const sbx = await pool.create({ secure: true, envs: { SECURE_ENV: 'sealed' } });
  assert.ok(sbx.envdAccessToken, 'the sandbox has an envd access token');
  assert.equal((await sbx.runCode('x =1; x')).text, '1');
  assert.equal((await sbx.runCode('import os; os.environ.get("SECURE_ENV")')).text, 'sealed');
});

// The code-interpreter repository's "secure traffic" variants: secure: true and
// network.allowPublicTraffic: false, so every request to port 49999 must carry the sandbox's
// traffic access token (the SDK sends it as E2B-Traffic-Access-Token).
test('secure traffic: runCode and every context call carry the traffic token; without it port 49999 answers 403', async () => {
  const sbx = await pool.create({ secure: true, network: { allowPublicTraffic: false } });
  assert.ok(sbx.trafficAccessToken, 'the create answer gave a traffic access token');

  // basic.test.ts 'secure access'
  assert.equal((await sbx.runCode('x =1; x')).text, '1');
  // contexts.test.ts: create, list, restart, remove (secure traffic)
  const context = await sbx.createCodeContext();
  const listed = await sbx.listCodeContexts();
  const last = listed[listed.length - 1];
  assert.deepEqual([last.id, last.language, last.cwd], [context.id, context.language, context.cwd]);
  assert.ok(listed.some((c) => c.language === 'python') && listed.some((c) => c.language === 'javascript'));
  await sbx.runCode('x = 1', { context });
  await sbx.restartCodeContext(context.id);
  const after = await sbx.runCode('x', { context });
  assert.equal(after.error?.name, 'NameError');
  assert.equal(after.error?.value, "name 'x' is not defined");
  await sbx.removeCodeContext(context.id);
  assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === context.id));

  // A caller without the token, or with another sandbox's, reaches nothing and changes nothing.
  const headers = { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '49999' };
  const bare = await fetch(`${PORTAL_URL}/contexts`, { headers });
  assert.equal(bare.status, 403);
  assert.match((await bare.json()).message, /traffic access token/);
  const forged = await fetch(`${PORTAL_URL}/execute`, {
    method: 'POST',
    headers: { ...headers, 'E2B-Traffic-Access-Token': `${sbx.trafficAccessToken}x`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ code: 'x = "forged"' }),
  });
  assert.equal(forged.status, 403);
  const viaPath = await fetch(`${PORTAL_URL}/kruise/${sbx.sandboxId}/49999/contexts`);
  assert.equal(viaPath.status, 403);
  const withToken = await fetch(`${PORTAL_URL}/health`, { headers: { ...headers, 'E2B-Traffic-Access-Token': sbx.trafficAccessToken } });
  assert.equal(withToken.status, 200);
  assert.equal((await sbx.runCode('x')).text, '1', 'the forged execute ran nothing');
});
