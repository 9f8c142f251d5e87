// Template benchmark with the real e2b SDK (non-debug): a rebuild with every step cached, and a
// cold create (no warm pool) from a built template against one from base, alternated.
// Env: PORTAL_URL, E2B_API_KEY, BENCH_N (default 10). Prints one line per measurement.
import { Sandbox, Template } from 'e2b';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.PORTAL_URL;
const opts = { apiKey: process.env.E2B_API_KEY, apiUrl: url, sandboxUrl: url };
const N = Number(process.env.BENCH_N ?? 10);
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const report = (what, xs) => console.log(`${what}: p50 ${pct(xs, 0.5).toFixed(1)} ms, p90 ${pct(xs, 0.9).toFixed(1)} ms (n=${xs.length})`);

const context = mkdtempSync(join(tmpdir(), 'bench-template-'));
writeFileSync(join(context, 'app.txt'), 'x'.repeat(100_000));
const name = `bench-${Date.now()}`;
const template = () => Template({ fileContextPath: context }).fromTemplate('base')
  .runCmd('echo one > ~/one').copy('app.txt', '/home/user/app.txt').setEnvs({ A: '1' })
  .setWorkdir('/home/user/work').runCmd('echo two > two');

let templateId;
try {
  let t0 = performance.now();
  const first = await Template.build(template(), name, opts);
  templateId = first.templateId;
  console.log(`first build (5 steps, nothing cached): ${(performance.now() - t0).toFixed(0)} ms`);
  const cached = [];
  for (let i = 0; i < N; i++) {
    t0 = performance.now();
    await Template.build(template(), name, opts);
    cached.push(performance.now() - t0);
  }
  report('Template.build with every step cached (request, files check, start, polling to ready)', cached);

  // Warm-up of both paths (page cache, JIT).
  await (await Sandbox.create('base', opts)).kill();
  await (await Sandbox.create(name, opts)).kill();
  const fromBase = [], fromBuilt = [];
  for (let i = 0; i < N; i++) {
    for (const [ref, into] of i % 2 ? [['base', fromBase], [name, fromBuilt]] : [[name, fromBuilt], ['base', fromBase]]) {
      const s = performance.now();
      const sbx = await Sandbox.create(ref, opts);
      into.push(performance.now() - s);
      await sbx.kill();
    }
  }
  report('cold Sandbox.create from base', fromBase);
  report('cold Sandbox.create from the built template (5 steps: 3 layers mounted)', fromBuilt);
} finally {
  if (templateId) await fetch(`${url}/templates/${templateId}`, { method: 'DELETE', headers: { 'X-API-Key': opts.apiKey } });
  rmSync(context, { recursive: true, force: true });
}
