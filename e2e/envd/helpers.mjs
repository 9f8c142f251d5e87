// Shared set-up for the envd suite: the SDK in debug mode talks to envd on localhost:49983.
import { Sandbox } from 'e2b';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

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

/** A port free on 127.0.0.1 right now (the OS picks it; fixed ports can collide with ephemeral ones). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

/**
 * Starts a second envd with an access token on a free port (ENVD_BIN is set by
 * scripts/e2e-envd.sh) and returns an SDK Sandbox bound to it, as the control plane would
 * hand one out: with envdAccessToken, so the SDK sends X-Access-Token and signs URLs.
 * Fails with envd's own output when it does not answer /health within 10 s.
 */
export async function sandboxWithToken(token) {
  const bin = process.env.ENVD_BIN;
  if (!bin) throw new Error('ENVD_BIN is not set (run through scripts/e2e-envd.sh)');
  const port = await freePort();
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', String(port), '--access-token', token], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = null;
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.once('exit', (code, signal) => { exited = signal ?? code; });
  const base = `http://127.0.0.1:${port}`;
  const up = await eventually(async () => {
    if (exited !== null) return false;
    try { return (await fetch(`${base}/health`)).status === 204; } catch { return false; }
  }, 10000);
  if (!up) {
    child.kill('SIGKILL');
    throw new Error(`envd with an access token on port ${port} did not answer /health within 10 s (exit: ${exited ?? 'still running'}); its output:\n${output}`);
  }
  // The constructor is what Sandbox.create() calls with the control plane's answer.
  const sbx = new Sandbox({ sandboxId: 'tokensandbox', envdVersion: '0.6.13', envdAccessToken: token, sandboxUrl: base, debug: true });
  return {
    sbx,
    base,
    stop: () => new Promise((r) => { if (exited !== null) return r(); child.once('exit', r); child.kill('SIGTERM'); }),
  };
}
