// Pause modes and autoResume through the real SDK, and what a sandbox sees of itself:
//  - pause({keepMemory:false}) stops the processes, frees the memory (the sandbox's cgroups are
//    gone), keeps the files; connect and the v1 resume boot it again (new boot id, same env vars);
//  - autoResume: an HTTP request to a paused sandbox's port (via sandbox.getHost(port)) resumes it
//    and is served, after either pause, once however many requests arrive; without autoResume, or
//    without the traffic token a private sandbox needs, a request resumes nothing;
//  - inside a 1-CPU / 512 MB sandbox nproc, /proc/cpuinfo, free, /proc/meminfo and uptime tell its own figures.
// The server in the sandbox must come back after a reboot, so the sandboxes here come from a
// test template (base's root filesystem, 1 CPU, 512 MB, a start command serving /home/user on
// port 8000) that this file adds to the portal's templates directory and removes at the end.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox } from 'e2b';
import { opts, api, runId, sleep, tracker, TLS_DOMAIN, API_KEY, resolveTlsDomainToLoopback, onFakeKubelet } from './_env.mjs';

resolveTlsDomainToLoopback();
const created = tracker();
const TEMPLATES = process.env.PORTAL_TEMPLATES_DIR;
const TEMPLATE = `e2epause${runId}`;
const local = TEMPLATES && !onFakeKubelet && process.env.PORTAL_RUNTIME !== 'kubernetes';
// The native protocol (getHost(port) → https://PORT-ID.D) when the suite has a domain; else header routing.
const native = TLS_DOMAIN ? { apiKey: API_KEY, domain: TLS_DOMAIN, requestTimeoutMs: 30_000 } : null;

before(() => {
  if (!local) return;
  const dir = path.join(TEMPLATES, TEMPLATE);
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(TEMPLATES, 'base', 'rootfs'), path.join(dir, 'rootfs'));
  fs.writeFileSync(path.join(dir, 'template.json'), JSON.stringify({
    templateId: TEMPLATE, aliases: [], cpuCount: 1, memoryMB: 512, diskSizeMB: 2048, warmPoolSize: 0,
    startCommand: 'cd /home/user && exec python3 -m http.server 8000 --bind 127.0.0.1',
    readyCommand: 'curl -sf -o /dev/null http://127.0.0.1:8000/',
  }));
});

after(async () => {
  await created.cleanup(Sandbox);
  if (local) fs.rmSync(path.join(TEMPLATES, TEMPLATE), { recursive: true, force: true });
});

const skip = !local && 'needs the local runtime and PORTAL_TEMPLATES_DIR (scripts/e2e-portal.sh)';

/** The sandbox's cgroup directories on this machine (any controller, v1 or v2). */
function cgroupsOf(id) {
  const out = execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '7', '-type', 'd', '-name', id], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

const bootId = async (sbx) => (await sbx.commands.run('cat /proc/sys/kernel/random/boot_id')).stdout.trim();

async function logLines(id) {
  const logs = await api('GET', `/sandboxes/${id}/logs`);
  assert.equal(logs.status, 200);
  return logs.body.logs.map((l) => l.line);
}

test('pause({keepMemory:false}) reboots: processes and memory gone, files and env vars kept, new boot id; connect and resume both work', { skip }, async () => {
  const sbx = created.add(await Sandbox.create(TEMPLATE, { ...opts, envs: { GREETING: 'from create' } }));
  await sbx.files.write('/home/user/kept.txt', 'still here');
  await sbx.commands.run('sleep 600', { background: true });
  const boot1 = await bootId(sbx);
  assert.ok(cgroupsOf(sbx.sandboxId).length > 0, 'the running sandbox has cgroups');

  assert.equal(await sbx.pause({ keepMemory: false }), true);
  assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).state, 'paused');
  assert.equal(await sbx.isRunning(), false);
  assert.deepEqual(cgroupsOf(sbx.sandboxId), [], 'a filesystem-paused sandbox holds no cgroup, so no process and no memory');
  assert.equal(await sbx.pause({ keepMemory: false }), false, 'pausing a paused sandbox returns false (409)');

  const back = await Sandbox.connect(sbx.sandboxId, opts);
  assert.equal((await back.commands.run('cat /home/user/kept.txt; echo; echo $GREETING; pgrep -c -x sleep || true')).stdout, 'still here\nfrom create\n0\n');
  const boot2 = await bootId(back);
  assert.notEqual(boot2, boot1);
  assert.equal((await back.commands.run('curl -s http://127.0.0.1:8000/kept.txt')).stdout, 'still here', 'the start command ran again');

  assert.equal(await back.pause({ keepMemory: false }), true);
  const resumed = await api('POST', `/sandboxes/${sbx.sandboxId}/resume`, { timeout: 60 });
  assert.equal(resumed.status, 201, JSON.stringify(resumed.body));
  const again = await Sandbox.connect(sbx.sandboxId, opts);
  assert.notEqual(await bootId(again), boot2);
  assert.equal(await again.files.read('/home/user/kept.txt'), 'still here');
  const lines = await logLines(sbx.sandboxId);
  assert.equal(lines.filter((l) => l.startsWith('paused (memory:false')).length, 2, lines.join(' | '));
});

for (const keepMemory of [true, false]) {
  test(`autoResume: an HTTP request to a port of a sandbox paused with keepMemory:${keepMemory} resumes it once and is served`, { skip }, async () => {
    const connection = native ?? opts;
    const sbx = created.add(await Sandbox.create(TEMPLATE, { ...connection, lifecycle: { onTimeout: 'pause', autoResume: true } }));
    assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).lifecycle?.autoResume, true);
    await sbx.files.write('/home/user/hello.txt', `hello ${keepMemory}`);
    assert.equal(await sbx.pause({ keepMemory }), true);
    assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).state, 'paused');

    // Ten at once: every one is served, one resume did it.
    const url = native ? `https://${sbx.getHost(8000)}/hello.txt` : `${opts.sandboxUrl}/hello.txt`;
    const headers = native ? {} : { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': '8000' };
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(url, { headers }).then(async (r) => [r.status, await r.text()])));
    for (const [status, text] of answers) {
      assert.equal(status, 200, text);
      assert.equal(text, `hello ${keepMemory}`);
    }
    assert.equal((await Sandbox.getInfo(sbx.sandboxId, opts)).state, 'running');
    const lines = await logLines(sbx.sandboxId);
    assert.equal(lines.filter((l) => l.startsWith('resumed by traffic (autoResume)')).length, 1, lines.join(' | '));
  });
}

test('a paused sandbox is not resumed by traffic without autoResume, nor by a request that lacks its traffic token', { skip }, async () => {
  const plain = created.add(await Sandbox.create(TEMPLATE, opts));
  assert.equal(await plain.pause(), true);
  const headers = (id) => ({ 'E2b-Sandbox-Id': id, 'E2b-Sandbox-Port': '8000' });
  const flood = await Promise.all(Array.from({ length: 20 }, () => fetch(`${opts.sandboxUrl}/`, { headers: headers(plain.sandboxId) }).then((r) => r.status)));
  assert.deepEqual([...new Set(flood)], [502]);
  assert.equal((await Sandbox.getInfo(plain.sandboxId, opts)).state, 'paused');

  const secured = created.add(await Sandbox.create(TEMPLATE, {
    ...opts, network: { allowPublicTraffic: false }, lifecycle: { onTimeout: 'pause', autoResume: true },
  }));
  assert.equal(await secured.pause(), true);
  const without = await fetch(`${opts.sandboxUrl}/`, { headers: headers(secured.sandboxId) });
  assert.equal(without.status, 502);
  const wrong = await fetch(`${opts.sandboxUrl}/`, { headers: { ...headers(secured.sandboxId), 'e2b-traffic-access-token': 'not-the-token' } });
  assert.equal(wrong.status, 502);
  // envd's port without its access token wakes nothing either.
  const envd = await fetch(`${opts.sandboxUrl}/health`, { headers: { 'E2b-Sandbox-Id': secured.sandboxId, 'E2b-Sandbox-Port': '49983' } });
  assert.equal(envd.status, 502);
  assert.equal((await Sandbox.getInfo(secured.sandboxId, opts)).state, 'paused');

  const ok = await fetch(`${opts.sandboxUrl}/`, { headers: { ...headers(secured.sandboxId), 'e2b-traffic-access-token': secured.trafficAccessToken } });
  assert.equal(ok.status, 200);
  assert.equal((await Sandbox.getInfo(secured.sandboxId, opts)).state, 'running');
});

test('inside a 1-CPU, 512 MB sandbox: nproc and /proc/cpuinfo 1, free and /proc/meminfo 512 MB, a small uptime; boot ids differ between sandboxes', { skip }, async () => {
  const a = created.add(await Sandbox.create(TEMPLATE, opts));
  const b = created.add(await Sandbox.create(TEMPLATE, opts));
  const info = await Sandbox.getInfo(a.sandboxId, opts);
  assert.equal(info.cpuCount, 1);
  assert.equal(info.memoryMB, 512);
  const out = (await a.commands.run("nproc; free -m | awk '/^Mem:/ {print $2}'; awk '/^MemTotal:/ {print $2}' /proc/meminfo; cut -d' ' -f1 /proc/uptime; grep -c ^processor /proc/cpuinfo")).stdout.split('\n');
  assert.equal(out[0], '1');
  assert.equal(out[4], '1', 'processors in /proc/cpuinfo');
  assert.ok(Number(out[1]) >= 500 && Number(out[1]) <= 512, `free -m total: ${out[1]}`);
  assert.equal(out[2], String(512 * 1024));
  assert.ok(Number(out[3]) < 60, `uptime: ${out[3]} s`);
  assert.notEqual(await bootId(a), await bootId(b));
  assert.notEqual(await bootId(a), fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
});
