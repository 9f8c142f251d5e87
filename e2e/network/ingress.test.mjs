// Ingress as E2B defines it, with the real SDK: allowPublicTraffic:false issues a
// trafficAccessToken (create and connect) that every way in checks on every port but envd's,
// and maskRequestHost sets the Host a sandbox's server sees. Run through scripts/e2e-network.sh.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';
import { opts, tracker, PORTAL_URL, TLS_DOMAIN, resolveTlsDomainToLoopback } from '../portal/_env.mjs';

const t = tracker();
after(() => t.cleanup(Sandbox));
resolveTlsDomainToLoopback();

// A server on 8080 in the sandbox that answers with the Host it was sent.
const SERVER = `python3 -c "
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b=(self.headers.get('Host') or '').encode()
        self.send_response(200);self.send_header('Content-Length',str(len(b)));self.end_headers();self.wfile.write(b)
    def log_message(self,*a): pass
http.server.ThreadingHTTPServer(('0.0.0.0',8080),H).serve_forever()"`;

async function startServer(sbx) {
  await sbx.commands.run(SERVER, { background: true });
  for (let i = 0; i < 100; i++) {
    const r = await sbx.commands.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/").catch(() => null);
    if (r?.stdout === '200') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server in the sandbox did not start');
}

/** Every way into port 8080 of the sandbox: native host over HTTPS, private path, routing headers. */
function waysIn(sbx) {
  const ways = {
    'private path': [`${PORTAL_URL}/kruise/${sbx.sandboxId}/8080/`, {}],
    headers: [`${PORTAL_URL}/`, { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '8080' }],
  };
  if (TLS_DOMAIN) ways['native host'] = [`https://8080-${sbx.sandboxId}.${TLS_DOMAIN}/`, {}];
  return Object.entries(ways);
}

test('allowPublicTraffic:false: 403 without or with a wrong token, 200 with it, on every way in; envd needs none', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { allowPublicTraffic: false } }));
  assert.ok(sbx.trafficAccessToken, 'create returns a trafficAccessToken');
  await startServer(sbx); // through envd (49983): no traffic token needed there
  for (const [way, [url, headers]] of waysIn(sbx)) {
    const missing = await fetch(url, { headers });
    assert.equal(missing.status, 403, way);
    assert.deepEqual(await missing.json(), { sandboxId: sbx.sandboxId, message: "Sandbox is secured with traffic access token. Token header 'e2b-traffic-access-token' is missing", code: 403 });
    const wrong = await fetch(url, { headers: { ...headers, 'e2b-traffic-access-token': 'nope' } });
    assert.equal(wrong.status, 403, way);
    assert.equal((await wrong.json()).message, "Sandbox is secured with traffic access token. Provided token in header 'e2b-traffic-access-token' is invalid");
    const ok = await fetch(url, { headers: { ...headers, 'E2B-Traffic-Access-Token': sbx.trafficAccessToken } });
    assert.equal(ok.status, 200, way);
  }
  // A browser gets the refusal as a page.
  const [pageUrl, pageHeaders] = waysIn(sbx)[0][1];
  const page = await fetch(pageUrl, { headers: { ...pageHeaders, 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120' } });
  assert.equal(page.status, 403);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match(await page.text(), /Token header &#39;e2b-traffic-access-token&#39; is missing/);
  // connect hands the same token out again.
  const again = await Sandbox.connect(sbx.sandboxId, opts);
  assert.equal(again.trafficAccessToken, sbx.trafficAccessToken);
  const info = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info.network?.allowPublicTraffic, false);
});

test('allowPublicTraffic default: open without a token', async () => {
  const sbx = t.add(await Sandbox.create('base', opts));
  assert.equal(sbx.trafficAccessToken, undefined);
  await startServer(sbx);
  for (const [way, [url, headers]] of waysIn(sbx)) assert.equal((await fetch(url, { headers })).status, 200, way);
});

test('maskRequestHost: the sandbox server sees the mask with the port filled in', async () => {
  const sbx = t.add(await Sandbox.create('base', { ...opts, network: { maskRequestHost: 'custom-host.example.com:${PORT}' } }));
  await startServer(sbx);
  for (const [way, [url, headers]] of waysIn(sbx)) {
    const r = await fetch(url, { headers });
    assert.equal(r.status, 200, way);
    assert.equal(await r.text(), 'custom-host.example.com:8080', way);
  }
});
