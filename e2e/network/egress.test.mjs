// Sandbox egress with the real E2B SDK against a portal whose only uplink is the fake internet of
// scripts/fake-internet.sh (run through scripts/e2e-network.sh): names resolve through the
// sandbox's DNS, E2B's allow/deny rules, updateNetwork, validation errors.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { opts, tracker, api } from '../portal/_env.mjs';

const t = tracker();
after(() => t.cleanup(Sandbox));
const A = '192.0.2.10', B = '192.0.2.20';

/** curl inside the sandbox; returns the HTTP status or 'fail' when the connection did not go through. */
async function curl(sbx, url, extra = '') {
  const r = await sbx.commands.run(`curl -sk -o /dev/null -w '%{http_code}' --connect-timeout 3 --max-time 5 ${extra} '${url}'`).catch((e) => e);
  return r.exitCode === 0 ? r.stdout.trim() : 'fail';
}
/** A TCP connection to the echo port (7000): 'ok' when the echo came back. */
async function echo(sbx, host) {
  const r = await sbx.commands.run(`python3 -c "import socket;s=socket.create_connection(('${host}',7000),3);s.sendall(b'ping');print(s.recv(4).decode())"`).catch((e) => e);
  return r.exitCode === 0 && r.stdout.trim() === 'ping' ? 'ok' : 'fail';
}

test('default create reaches HTTP and HTTPS test hosts by name, and the echo port', async () => {
  const sbx = t.add(await Sandbox.create('base', opts));
  assert.equal(await curl(sbx, 'http://example.test/'), '200');
  assert.equal(await curl(sbx, 'https://other.test/'), '200');
  assert.equal(await echo(sbx, B), 'ok');
  const info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info.allowInternetAccess ?? null, null);
});

test('allowInternetAccess:false reaches nothing', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, allowInternetAccess: false }));
  assert.equal(await curl(sbx, `http://${A}/`), 'fail');
  assert.equal(await curl(sbx, `https://${B}/`), 'fail');
  assert.equal(await echo(sbx, A), 'fail');
  const info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info.allowInternetAccess, false);
});

test('allow by CIDR over deny-all; deny wins where nothing allows', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { denyOut: ['0.0.0.0/0'], allowOut: ['192.0.2.0/28'] } }));
  assert.equal(await curl(sbx, `http://${A}/`), '200');
  assert.equal(await echo(sbx, A), 'ok');
  assert.equal(await curl(sbx, `http://${B}/`), 'fail');
  assert.equal(await echo(sbx, B), 'fail');
});

test('deny of one address leaves the rest open (overlapping entries are fine)', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { denyOut: [B, `${B}/32`, '192.0.2.16/28'], allowOut: ['198.51.100.0/24', '198.51.100.2'] } }));
  assert.equal(await curl(sbx, `https://${B}/`), 'fail');
  assert.equal(await curl(sbx, `https://${A}/`), '200');
});

test('allow by domain and *.domain over deny-all: on 80 and 443, not on another port', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { denyOut: ['0.0.0.0/0'], allowOut: ['example.test', '*.other.test'] } }));
  assert.equal(await curl(sbx, 'http://example.test/'), '200');
  assert.equal(await curl(sbx, 'https://example.test/'), '200');
  assert.equal(await curl(sbx, 'https://www.other.test/'), '200');
  assert.equal(await curl(sbx, 'http://www.other.test/'), '200');
  // *.other.test is not other.test itself; api.example.test is not example.test.
  assert.equal(await curl(sbx, 'https://other.test/'), 'fail');
  assert.equal(await curl(sbx, 'http://api.example.test/'), 'fail');
  // Same address, allowed name, other port: CIDR rules only, so denied.
  assert.equal(await echo(sbx, A), 'fail');
  // A name that is not allowed, sent to an allowed name's address: refused on the name.
  assert.equal(await curl(sbx, `http://${A}/`, "-H 'Host: third.test'"), 'fail');
  // An allowed name sent to another address reaches the name's own address, never the other one.
  for (const url of [`http://${B}/`, `https://${B}/`]) {
    const r = await sbx.commands.run(`curl -sk --connect-timeout 3 --max-time 5 -H 'Host: example.test' --connect-to example.test:443:${B}:443 ${url.startsWith('https') ? 'https://example.test/' : url}`);
    assert.equal(JSON.parse(r.stdout).local, A, url);
  }
});

test('updateNetwork replaces the rules and {} clears them', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { denyOut: ['0.0.0.0/0'], allowOut: [A] } }));
  assert.equal(await curl(sbx, `http://${B}/`), 'fail');
  await sbx.updateNetwork({ denyOut: [A] });
  assert.equal(await curl(sbx, `http://${B}/`), '200');
  assert.equal(await curl(sbx, `http://${A}/`), 'fail');
  let info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.deepEqual(info.network?.denyOut, [A]);
  // The change is a lifecycle event, as E2B's: sandbox.lifecycle.updated with network_egress.
  const events = (await api('GET', `/events/sandboxes/${sbx.sandboxId}?limit=10`)).body;
  const updated = events.find((e) => e.type === 'sandbox.lifecycle.updated');
  assert.deepEqual(updated?.eventData?.network_egress, { allowed_cidrs: [], denied_cidrs: [`${A}/32`], allowed_domains: [] });
  assert.equal(info.network?.allowOut ?? undefined, undefined);
  await sbx.updateNetwork({});
  assert.equal(await curl(sbx, `http://${A}/`), '200');
  assert.equal(await curl(sbx, `http://${B}/`), '200');
  info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info.network?.denyOut ?? undefined, undefined);
});

test('PUT /network: 404 for an unknown sandbox, 409 for a paused one, 400 for bad rules', async () => {
  const missing = await api('PUT', '/sandboxes/nosuchsandbox00000000/network', {});
  assert.equal(missing.status, 404);
  const sbx = t.add(await Sandbox.create('base', opts));
  const bad = await api('PUT', `/sandboxes/${sbx.sandboxId}/network`, { denyOut: ['example.test'] });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.message, 'invalid denied CIDR example.test');
  await sbx.pause();
  const paused = await api('PUT', `/sandboxes/${sbx.sandboxId}/network`, {});
  assert.equal(paused.status, 409);
});

test('validation errors as E2B words them', async () => {
  const cases = [
    [{ network: { denyOut: ['example.test'] } }, 'invalid denied CIDR example.test'],
    [{ network: { denyOut: ['0.0.0.0'] } }, 'invalid denied CIDR 0.0.0.0'],
    [{ network: { allowOut: ['0.0.0.0'] } }, 'invalid allowed address 0.0.0.0'],
    [{ network: { allowOut: ['example.test'] } }, "When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic."],
    [{ allow_internet_access: false, network: { allowOut: ['example.test'] } }, "When specifying allowed domains in allow out, you must include 'ALL_TRAFFIC' in deny out to block all other traffic."],
    [{ network: { maskRequestHost: 'hôst:${PORT}' } }, "mask request host 'hôst' is not ASCII. Please use ASCII characters only."],
  ];
  for (const [body, message] of cases) {
    const r = await api('POST', '/v2/sandboxes', { templateID: 'base', ...body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.deepEqual(r.body, { code: 400, message });
  }
  const v1 = await api('POST', '/sandboxes', { templateID: 'base', network: { allowPublicTraffic: false } });
  assert.equal(v1.status, 400);
  assert.equal(v1.body.message, "You cannot create a sandbox without public access unless you enable secure envd access via 'secure' flag.");
});
