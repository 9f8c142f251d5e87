// Every way in, with the real SDK against one portal (docs/deployment.md):
//  (a) native protocol over HTTPS: only the SDK's `domain` option (D carries a port, so this also
//      covers a domain with a port); api.D and P-S.D resolve to 127.0.0.1 for this process only,
//      the wildcard certificate comes from a test CA (NODE_EXTRA_CA_CERTS, set by e2e-portal.sh);
//  (b) private protocol: apiUrl = .../kruise/api, envd at .../kruise/<id>/49983 (OpenKruise's
//      patch emulated by connecting with that sandboxUrl);
//  (c) header routing: apiUrl = sandboxUrl = the portal.
// Each: create, run a command, write and read a file, kill.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { PORTAL_URL, API_KEY, opts, TLS_DOMAIN, resolveTlsDomainToLoopback } from './_env.mjs';

resolveTlsDomainToLoopback();

const ids = new Set();
after(async () => {
  await Promise.all([...ids].map((id) => Sandbox.kill(id, opts).catch(() => {})));
});

async function exercise(sbx, label) {
  ids.add(sbx.sandboxId);
  const run = await sbx.commands.run(`echo ${label} $((6*7))`);
  assert.equal(run.exitCode, 0);
  assert.equal(run.stdout, `${label} 42\n`);
  const path = `/home/user/${label}.txt`;
  await sbx.files.write(path, `via ${label}`);
  assert.equal(await sbx.files.read(path), `via ${label}`);
  assert.equal((await sbx.commands.run(`cat ${path}`)).stdout, `via ${label}`);
  await sbx.kill();
  ids.delete(sbx.sandboxId);
  assert.equal(await sbx.isRunning().catch(() => false), false);
}

test('(a) native protocol over HTTPS with only the domain option (domain with a port)', { skip: !TLS_DOMAIN && 'PORTAL_TLS_DOMAIN not set' }, async () => {
  const native = { apiKey: API_KEY, domain: TLS_DOMAIN, requestTimeoutMs: 30_000 };
  const sbx = await Sandbox.create('base', native);
  ids.add(sbx.sandboxId);
  assert.equal(sbx.sandboxDomain, TLS_DOMAIN);
  assert.equal(sbx.getHost(49983), `49983-${sbx.sandboxId}.${TLS_DOMAIN}`);
  // Plain fetch to the native sandbox host (no routing headers): the host alone routes.
  const health = await fetch(`https://${sbx.getHost(49983)}/health`);
  assert.ok(health.status === 204 || health.status === 200, `envd health via the native host: ${health.status}`);
  const listed = await Sandbox.list(native).nextItems();
  assert.ok(listed.some((s) => s.sandboxId === sbx.sandboxId));
  await exercise(sbx, 'native');
});

test('(b) private protocol: /kruise/api and /kruise/<id>/49983', async () => {
  const apiUrl = `${PORTAL_URL}/kruise/api`;
  const priv = { apiKey: API_KEY, apiUrl, requestTimeoutMs: 30_000 };
  const created = await Sandbox.create('base', priv);
  ids.add(created.sandboxId);
  // OpenKruise's patch makes the SDK build D/kruise/<id>/<port>; emulated with sandboxUrl.
  const sandboxUrl = `${PORTAL_URL}/kruise/${created.sandboxId}/49983`;
  const sbx = await Sandbox.connect(created.sandboxId, { ...priv, sandboxUrl });
  // The path alone routes (no E2b-Sandbox-* headers): envd's /health through /kruise/<id>/49983.
  const health = await fetch(`${sandboxUrl}/health`);
  assert.ok(health.status === 204 || health.status === 200, `envd health via the private path: ${health.status}`);
  await exercise(sbx, 'private');
});

test('(c) header routing: one URL for the API and every sandbox', async () => {
  const sbx = await Sandbox.create('base', opts);
  await exercise(sbx, 'headers');
});

// envd's /init sets a sandbox's access token, env vars and default user: only the runtime may call
// it. A client that knows the ID of a sandbox created without `secure` tries every way in and every
// spelling; if one got through, the SDK's next call (no token) would get 401 and $PWNED would be set.
test('(d) no way in reaches envd /init, however it is spelled', async () => {
  const sbx = await Sandbox.create('base', { ...opts, secure: false });
  ids.add(sbx.sandboxId);
  const id = sbx.sandboxId;
  const body = JSON.stringify({ accessToken: 'pwned', envVars: { PWNED: '1' }, defaultUser: 'root' });
  const attempts = [
    [`${PORTAL_URL}/kruise/${id}/49983/init`, {}],
    [`${PORTAL_URL}/kruise/${id}/49983/%69nit`, {}],
    [`${PORTAL_URL}/kruise/${id}/49983//INIT/`, {}],
    [`${PORTAL_URL}/init`, { 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': '49983' }],
    [`${PORTAL_URL}/Init?x=1`, { 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': '49983' }],
    [`${PORTAL_URL}/_portal/tunnel/49983`, { 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': '49983' }],
  ];
  if (TLS_DOMAIN) attempts.push([`https://49983-${id}.${TLS_DOMAIN}/init`, {}], [`https://49983-${id}.${TLS_DOMAIN}/init/`, {}]);
  for (const [url, headers] of attempts) {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
    const text = await res.text();
    assert.equal(res.status, 403, `${url}: ${res.status} ${text}`);
    const err = JSON.parse(text);
    assert.equal(err.code, 403);
    assert.match(err.message, /reserved for the sandbox runtime/);
  }
  const run = await sbx.commands.run('echo "[$PWNED] $(whoami)"');
  assert.equal(run.stdout, '[] user\n');
  await sbx.kill();
  ids.delete(id);
});
