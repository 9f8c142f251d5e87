// Shared set-up of the portal suites: the real `e2b` SDK pointed at a running portal in
// NON-debug mode (apiUrl and sandboxUrl = the portal; E2B_DEBUG must not be set).
import { randomBytes } from 'node:crypto';
import dns from 'node:dns';

if (process.env.E2B_DEBUG !== undefined) throw new Error('E2B_DEBUG must not be set for the portal suites');

export const PORTAL_URL = process.env.PORTAL_URL ?? 'http://127.0.0.1:7788';
export const API_KEY = process.env.E2B_API_KEY;
if (!API_KEY) throw new Error('E2B_API_KEY (an admin key of the portal) is required');

/** The native protocol's domain when the suite runs it (PORTAL_TLS_DOMAIN, e.g. sbx.test:8443, set by the e2e scripts). */
export const TLS_DOMAIN = process.env.PORTAL_TLS_DOMAIN;
const TLS_HOST = TLS_DOMAIN?.split(':')[0];

/**
 * Resolves D and every *.D to 127.0.0.1 in this process only (net calls dns.lookup at connect
 * time), so the native protocol's api.D and P-S.D reach the portal without touching the host.
 */
export function resolveTlsDomainToLoopback() {
  if (!TLS_HOST) return;
  const original = dns.lookup;
  dns.lookup = function lookup(hostname, options, callback) {
    if (typeof options === 'function') { callback = options; options = {}; }
    if (typeof options === 'number') options = { family: options };
    const name = String(hostname).toLowerCase();
    if (name === TLS_HOST || name.endsWith('.' + TLS_HOST)) {
      if (options?.all) return process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }]);
      return process.nextTick(callback, null, '127.0.0.1', 4);
    }
    return original.call(this, hostname, options, callback);
  };
}

/** Connection options for every SDK call (never the environment's defaults). */
export const opts = { apiKey: API_KEY, apiUrl: PORTAL_URL, sandboxUrl: PORTAL_URL, requestTimeoutMs: 30_000 };

/**
 * Set when the portal's sandboxes are pods of the FAKE kubelet (scripts/e2e-portal-kubernetes.sh):
 * their envd runs as a process on this machine with only /home, /root, /opt and /tmp of its
 * own, not in the image. The few tests that need the image say so and are skipped there.
 */
export const onFakeKubelet = process.env.PORTAL_E2E_FAKE_KUBELET === '1';

/** Unique per run, so parallel runs and leftovers never mix. */
export const runId = 'run' + randomBytes(6).toString('hex');

export async function api(method, path, body, key = API_KEY) {
  const res = await fetch(PORTAL_URL + path, {
    method,
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** A fresh team with its own key (through the admin key). */
export async function newTeam(name) {
  const team = await api('POST', '/teams', { name: `${name}-${runId}` });
  if (team.status !== 201) throw new Error(`POST /teams: ${team.status} ${JSON.stringify(team.body)}`);
  const key = await api('POST', '/api-keys', { name: `${name}-key`, teamID: team.body.teamID });
  if (key.status !== 201) throw new Error(`POST /api-keys: ${key.status} ${JSON.stringify(key.body)}`);
  return { teamID: team.body.teamID, key: key.body.key, opts: { ...opts, apiKey: key.body.key } };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Kills what a test created, whatever happened. */
export function tracker() {
  const ids = new Set();
  return {
    add(sbx) { ids.add(sbx.sandboxId); return sbx; },
    async cleanup(Sandbox) {
      await Promise.all([...ids].map((id) => Sandbox.kill(id, opts).catch(() => {})));
    },
  };
}
