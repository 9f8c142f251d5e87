// Shared set-up for the envd suite: the SDK in debug mode talks to envd on localhost:49983.
import { Sandbox } from 'e2b';
import { spawn } from 'node:child_process';

export async function sandbox() {
  return Sandbox.create();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A fresh directory under the default user's home, removed by the returned cleanup. */
export async function tempDir(sbx, name) {
  const dir = `/home/user/e2e-${name}-${process.pid}-${Date.now()}`;
  await sbx.files.makeDir(dir);
  return dir;
}

/** Polls `check` until it returns truthy or `ms` pass (bounded). */
export async function eventually(check, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(50);
  }
}

/**
 * Starts a second envd with an access token on its own port (ENVD_BIN is set by
 * scripts/e2e-envd.sh) and returns an SDK Sandbox bound to it, as the control plane would
 * hand one out: with envdAccessToken, so the SDK sends X-Access-Token and signs URLs.
 */
export async function sandboxWithToken(token, port) {
  const bin = process.env.ENVD_BIN;
  if (!bin) throw new Error('ENVD_BIN is not set (run through scripts/e2e-envd.sh)');
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', String(port), '--access-token', token], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    try { return (await fetch(`${base}/health`)).status === 204; } catch { return false; }
  }, 10000);
  // The constructor is what Sandbox.create() calls with the control plane's answer.
  const sbx = new Sandbox({ sandboxId: 'tokensandbox', envdVersion: '0.6.13', envdAccessToken: token, sandboxUrl: base, debug: true });
  return { sbx, base, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}
