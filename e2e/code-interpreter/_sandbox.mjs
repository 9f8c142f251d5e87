// Shared set-up of the code-interpreter suites: the real @e2b/code-interpreter SDK against the
// portal in non-debug mode (see ../portal/_env.mjs), on the template the SDK uses by default.
import { Sandbox } from '@e2b/code-interpreter';
import { opts } from '../portal/_env.mjs';

export { opts };
export const TEMPLATE = 'code-interpreter-v1';

/** The sandboxes a file created, killed at its end whatever happened. */
export function sandboxes() {
  const ids = new Set();
  return {
    async create(options = {}) {
      const sbx = await Sandbox.create(TEMPLATE, { ...opts, ...options });
      ids.add(sbx.sandboxId);
      return sbx;
    },
    forget(id) { ids.delete(id); },
    async cleanup() {
      await Promise.all([...ids].map((id) => Sandbox.kill(id, opts).catch(() => {})));
    },
  };
}

/** Runs a command in the sandbox as root through envd (the e2b part of the SDK). */
export async function sh(sbx, cmd) {
  return sbx.commands.run(cmd, { user: 'root' }).catch((e) => e);
}

/** Polls port 49999's /health from inside the sandbox until it answers 200. */
export async function waitForHealth(sbx, tries = 60, pauseMs = 250) {
  for (let i = 0; i < tries; i++) {
    const r = await sh(sbx, 'curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:49999/health');
    if (r?.stdout?.trim() === '200') return true;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return false;
}
