// Template builds through the real SDK: Template.build from base with every step type, a sandbox
// from the result (each step's effect), a cached rebuild, a failing step, names and tags,
// Template.exists across teams, delete; and hostile input on every route. fromImage of an OCI
// image layout this test makes from the host's bash; aptInstall from a Debian repository this test
// makes (a package of its own, in the template as a file: repository: sandboxes reach no mirror here).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, existsSync, readdirSync, readFileSync, copyFileSync, chmodSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Sandbox, Template, BuildError, waitForFile } from 'e2b';
import { opts, runId, newTeam, tracker, api, PORTAL_URL, API_KEY } from './_env.mjs';

const created = tracker();
const context = mkdtempSync(join(tmpdir(), 'portal-template-'));
const name = `app-${runId}`;
const deleteAfter = new Set();
let other;

before(async () => {
  mkdirSync(join(context, 'app', 'sub'), { recursive: true });
  writeFileSync(join(context, 'app', 'hello.txt'), 'hello from the context\n');
  writeFileSync(join(context, 'app', 'sub', 'deep.txt'), 'deep\n');
  writeFileSync(join(context, 'run.sh'), '#!/bin/sh\necho started > /tmp/started-by-start-cmd\nexec sleep 3600\n');
  symlinkSync('/etc/hostname', join(context, 'app', 'abs-link'));
  other = await newTeam('tpl-other');
});

after(async () => {
  await created.cleanup(Sandbox);
  for (const id of deleteAfter) await api('DELETE', `/templates/${id}`).catch(() => {});
  rmSync(context, { recursive: true, force: true });
});

function appTemplate(marker = 'm1') {
  return Template({ fileContextPath: context })
    .fromTemplate('base')
    .runCmd(`echo ${marker} > /tmp/ignored && echo built-by-run > ~/run-output.txt`)
    .copy('app', '/opt/app/')
    .copy('run.sh', '/usr/local/bin/start-app.sh', { user: 'root', mode: 0o755 })
    .setEnvs({ GREETING: 'hi', COMBINED: '$GREETING-there' })
    .setUser('root')
    .runCmd('mkdir -p /srv/data && echo "$GREETING" > /srv/data/env.txt')
    .setUser('builder')
    .setWorkdir('/srv/work')
    .runCmd('touch made-here && whoami > who.txt')
    .setStartCmd('/usr/local/bin/start-app.sh', waitForFile('/tmp/started-by-start-cmd'));
}

async function build(template, buildName, extra = {}) {
  const logs = [];
  const started = Date.now();
  const info = await Template.build(template, buildName, { ...opts, onBuildLogs: (e) => logs.push(e), ...extra });
  deleteAfter.add(info.templateId);
  return { info, logs, ms: Date.now() - started, text: logs.map((l) => l.message).join('\n') };
}

test('build from base with run, copy, envs, user, workdir, start and ready; a sandbox shows every step', async () => {
  const { info, text } = await build(appTemplate(), name);
  assert.match(info.templateId, /^[a-z0-9]{20}$/);
  assert.match(text, /RUN echo m1/);
  assert.doesNotMatch(text, /CACHED/);

  const sbx = created.add(await Sandbox.create(name, opts));
  const info2 = await Sandbox.getInfo(sbx.sandboxId, opts);
  assert.equal(info2.templateId, info.templateId);
  assert.equal(info2.name, name);
  const run = async (cmd, o = {}) => (await sbx.commands.run(cmd, o)).stdout.trim();
  assert.equal(await run('cat /home/user/run-output.txt'), 'built-by-run');
  assert.equal(await run('cat /opt/app/hello.txt'), 'hello from the context');
  assert.equal(await run('cat /opt/app/sub/deep.txt'), 'deep');
  assert.equal(await run('stat -c %U:%a /usr/local/bin/start-app.sh'), 'root:755');
  assert.equal(await run('stat -c %U /opt/app/hello.txt'), 'user', 'COPY without a user: the current USER then (user)');
  // An absolute symlink stays a link and points at the sandbox's own file, never the host's.
  assert.equal(await run('readlink /opt/app/abs-link'), '/etc/hostname');
  assert.equal(await run('cat /opt/app/abs-link'), await run('cat /etc/hostname'));
  assert.equal(await run('echo "$GREETING/$COMBINED"'), 'hi/hi-there');
  assert.equal(await run('cat /srv/data/env.txt'), 'hi');
  assert.equal(await run('whoami'), 'builder', 'the last USER is the sandbox default user');
  assert.equal(await run('pwd'), '/srv/work', 'the last WORKDIR is the default directory');
  assert.equal(await run('cat who.txt && ls made-here'), 'builder\nmade-here');
  assert.equal(await run('cat /tmp/started-by-start-cmd'), 'started');
  assert.match(await run('ps -eo args'), /start-app\.sh|sleep 3600/);
});

test('a rebuild with every step cached says so and is fast', async () => {
  const { info, text, ms, logs } = await build(appTemplate(), name);
  const stepLines = logs.filter((l) => /^(CACHED )?\[\d+\/\d+\]/.test(l.message));
  assert.equal(stepLines.length, 9, text);
  assert.ok(stepLines.every((l) => l.message.startsWith('CACHED ')), text);
  console.log(`# cached rebuild: ${ms} ms`);
  assert.ok(ms < 10_000, `cached rebuild took ${ms} ms`);
  const sbx = created.add(await Sandbox.create(name, opts));
  assert.equal((await sbx.commands.run('cat /opt/app/hello.txt')).stdout.trim(), 'hello from the context');
  assert.ok(info.buildId);
});

test('changing one step reruns it and what follows, not what comes before', async () => {
  const t = Template({ fileContextPath: context }).fromTemplate('base')
    .runCmd('echo one > ~/one.txt').runCmd('echo two > ~/two.txt');
  await build(t, `steps-${runId}`);
  const changed = Template({ fileContextPath: context }).fromTemplate('base')
    .runCmd('echo one > ~/one.txt').runCmd('echo TWO > ~/two.txt');
  const { text } = await build(changed, `steps-${runId}`);
  assert.match(text, /CACHED \[1\/2\] RUN echo one/);
  assert.match(text, /^\[2\/2\] RUN echo TWO/m);
  const sbx = created.add(await Sandbox.create(`steps-${runId}`, opts));
  assert.equal((await sbx.commands.run('cat ~/one.txt ~/two.txt')).stdout, 'one\nTWO\n');
  // skipCache: every step runs again.
  const forced = await build(changed, `steps-${runId}`, { skipCache: true });
  assert.doesNotMatch(forced.text, /CACHED/);
  assert.match(forced.text, /^\[1\/2\] RUN echo one/m);
});

test('a failing step is a BuildError with its log, and leaves no template behind', async () => {
  const failing = Template().fromTemplate('base').runCmd('echo before-the-failure').runCmd('echo about-to-fail && exit 3');
  const logs = [];
  await assert.rejects(
    Template.build(failing, `fail-${runId}`, { ...opts, onBuildLogs: (e) => logs.push(e) }),
    (e) => e instanceof BuildError && /step 2 failed.*code 3/.test(e.message),
  );
  const text = logs.map((l) => l.message).join('\n');
  assert.match(text, /about-to-fail/);
  // Nothing was made ready under that name: creating from it fails clearly.
  await assert.rejects(Sandbox.create(`fail-${runId}`, opts), /no ready build/);
  assert.equal(await Template.exists(`fail-${runId}`, opts), true);
  deleteAfter.add((await api('GET', `/templates/aliases/fail-${runId}`)).body.templateID);
});

test('aliases and tags: build name:tag, assign, list, remove, create by name:tag', async () => {
  const tagged = `tagged-${runId}`;
  const t1 = Template().fromTemplate('base').runCmd('echo v1 > ~/version');
  const b1 = await build(t1, `${tagged}:v1`);
  const t2 = Template().fromTemplate('base').runCmd('echo v2 > ~/version');
  const b2 = await build(t2, tagged, { tags: ['v2'] });
  assert.equal(b1.info.templateId, b2.info.templateId);

  const assigned = await Template.assignTags(`${tagged}:v1`, ['stable', 'prod'], opts);
  assert.equal(assigned.buildId, b1.info.buildId);
  const tags = await Template.getTags(b1.info.templateId, opts);
  const byTag = Object.fromEntries(tags.map((t) => [t.tag, t.buildId]));
  assert.equal(byTag.v1, b1.info.buildId);
  assert.equal(byTag.stable, b1.info.buildId);
  assert.equal(byTag.v2, b2.info.buildId);

  const version = async (ref) => {
    const sbx = created.add(await Sandbox.create(ref, opts));
    return (await sbx.commands.run('cat ~/version')).stdout.trim();
  };
  assert.equal(await version(`${tagged}:stable`), 'v1');
  assert.equal(await version(`${tagged}:v2`), 'v2');

  await Template.removeTags(tagged, ['prod'], opts);
  assert.ok(!(await Template.getTags(b1.info.templateId, opts)).some((t) => t.tag === 'prod'));
  await assert.rejects(Sandbox.create(`${tagged}:prod`, opts), /no tag 'prod'/);
});

test('Template.exists: true for own and built-in, false for unknown, true (403) for another team\'s', async () => {
  assert.equal(await Template.exists(name, opts), true);
  assert.equal(await Template.exists('base', opts), true);
  assert.equal(await Template.exists(`nothing-${runId}`, opts), false);
  assert.equal(await Template.exists(name, other.opts), true);
  const res = await api('GET', `/templates/aliases/${name}`, undefined, other.key);
  assert.equal(res.status, 403);
  assert.equal(res.body.code, 403);
});

test('another team cannot use or touch the template on any route', async () => {
  const mine = await api('GET', `/templates/aliases/${name}`);
  const id = mine.body.templateID;
  await assert.rejects(Sandbox.create(name, other.opts), /403|access/);
  await assert.rejects(Sandbox.create(id, other.opts), /403|access/);
  const hash = 'a'.repeat(64);
  const bld = (await api('POST', '/v3/templates', { name: `x-${runId}` })).body; // a build of ours to aim at
  deleteAfter.add(bld.templateID);
  const routes = [
    ['GET', `/templates/${id}/files/${hash}`],
    ['POST', `/v2/templates/${bld.templateID}/builds/${bld.buildID}`, { fromTemplate: 'base', steps: [], force: false }],
    ['GET', `/templates/${bld.templateID}/builds/${bld.buildID}/status`],
    ['GET', `/templates/${id}/tags`],
    ['DELETE', `/templates/${id}`],
    ['PATCH', `/v2/templates/${id}`, { public: true }],
    ['POST', '/templates/tags', { target: `${name}:default`, tags: ['stolen'] }],
    ['DELETE', '/templates/tags', { name, tags: ['default'] }],
    ['POST', '/v3/templates', { name }],
  ];
  for (const [method, path, body] of routes) {
    const res = await api(method, path, body, other.key);
    assert.ok([403, 404, 409].includes(res.status), `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, res.status, `${method} ${path}`);
  }
  const list = await api('GET', `/templates?teamID=${other.teamID}`, undefined, other.key);
  assert.equal(list.status, 200);
  assert.ok(!list.body.some((t) => t.templateID === id));
  // Still ours and intact.
  assert.equal((await Template.getTags(id, opts)).some((t) => t.tag === 'stolen'), false);
  assert.equal(await Template.exists(name, opts), true);
});

test('names, tags, hashes and steps that fail validation get 400 in E2B\'s shape', async () => {
  for (const bad of ['', 'UPPER/../x', 'a b', 'with/two/slashes', 'x:Bad Tag', `x:${crypto.randomUUID()}`, 'a'.repeat(200)]) {
    const res = await api('POST', '/v3/templates', { name: bad });
    assert.equal(res.status, 400, `name '${bad}': ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, 400);
  }
  const bld = (await api('POST', '/v3/templates', { name: `valid-${runId}` })).body;
  deleteAfter.add(bld.templateID);
  for (const hash of ['..%2F..%2Fetc%2Fpasswd', 'A'.repeat(64), 'abc', 'g'.repeat(64)]) {
    const files = await api('GET', `/templates/${bld.templateID}/files/${hash}`);
    assert.equal(files.status, 400, hash);
    assert.equal(files.body.code, 400);
  }
  assert.match((await api('GET', `/templates/${bld.templateID}/files/${'g'.repeat(64)}`)).body.message, /Invalid files hash/);
  for (const steps of [
    [{ type: 'COPY', args: ['../../etc', '/x'], filesHash: 'b'.repeat(64) }],
    [{ type: 'COPY', args: ['/etc/passwd', '/x'], filesHash: 'b'.repeat(64) }],
    [{ type: 'USER', args: ['root; rm -rf /'] }],
    [{ type: 'ENV', args: ['BAD NAME', 'x'] }],
    [{ type: 'FROM', args: ['x'] }],
  ]) {
    const res = await api('POST', `/v2/templates/${bld.templateID}/builds/${bld.buildID}`, { fromTemplate: 'base', steps, force: false });
    assert.equal(res.status, 400, JSON.stringify(steps) + ' ' + JSON.stringify(res.body));
  }
});

/** A tar archive of the given entries (ustar headers by hand: node has no tar writer). */
function tar(entries) {
  const blocks = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write((e.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100);
    h.write('0000000\0', 108); h.write('0000000\0', 116);
    const data = Buffer.from(e.data ?? '');
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type ?? '0', 156);
    if (e.link) h.write(e.link, 157, 100);
    h.write('ustar\0', 257); h.write('00', 263);
    let sum = 0; for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

test('hostile archives are refused at upload: ../ entries, writes through a symlink, devices; URLs are team- and file-bound', async () => {
  const bld = (await api('POST', '/v3/templates', { name: `hostile-${runId}` })).body;
  deleteAfter.add(bld.templateID);
  const hash = 'c'.repeat(64);
  const offer = await api('GET', `/templates/${bld.templateID}/files/${hash}`);
  assert.equal(offer.status, 201);
  assert.equal(offer.body.present, false);
  assert.ok(offer.body.url.startsWith(PORTAL_URL + '/'));
  const put = (url, body) => fetch(url, { method: 'PUT', body });
  for (const [why, entries] of [
    ['climbs out', [{ name: '../escape.txt', data: 'x' }]],
    ['climbs out', [{ name: 'ok/../../escape.txt', data: 'x' }]],
    ['absolute', [{ name: '/etc/evil', data: 'x' }]],
    ['below the symlink', [{ name: 'link', type: '2', link: '/etc' }, { name: 'link/passwd', data: 'x' }]],
    ['CharacterDevice', [{ name: 'dev', type: '3' }]],
  ]) {
    const res = await put(offer.body.url, tar(entries));
    const body = await res.json();
    assert.equal(res.status, 400, why);
    assert.equal(body.code, 400);
    assert.ok(body.message.includes('refused'), body.message);
  }
  // Nothing was kept.
  assert.equal((await api('GET', `/templates/${bld.templateID}/files/${hash}`)).body.present, false);
  // A good archive is kept; the URL only works for the hash and template it was issued for.
  const good = tar([{ name: 'ok.txt', data: 'fine' }]);
  assert.equal((await put(offer.body.url, good)).status, 200);
  assert.equal((await api('GET', `/templates/${bld.templateID}/files/${hash}`)).body.present, true);
  assert.equal((await api('GET', `/templates/${bld.templateID}/files/${hash}`, undefined, other.key)).status, 404);
  const other1 = offer.body.url.replace(hash, 'd'.repeat(64));
  assert.equal((await put(other1, good)).status, 403);
  const forged = offer.body.url.replace(/token=[^&]+/, 'token=forged');
  assert.equal((await put(forged, good)).status, 403);
});

const templatesDir = process.env.PORTAL_TEMPLATES_DIR ?? '/var/lib/sandbox-portal/templates';
const layerDirs = () => readdirSync(templatesDir).filter((d) => d.startsWith('tl-')).sort();

test('delete: the template goes, creating from it then fails clearly, a second delete is 404', async () => {
  const doomed = `doomed-${runId}`;
  const layersBefore = layerDirs();
  const { info } = await build(Template().fromTemplate('base').runCmd(`echo doomed-${runId} > ~/d`), doomed);
  const added = layerDirs().filter((d) => !layersBefore.includes(d));
  assert.equal(added.length, 1, 'one RUN step: one layer');
  assert.ok(existsSync(join(templatesDir, `tb-${info.buildId}`)));
  const sbx = created.add(await Sandbox.create(doomed, opts));
  const del = await api('DELETE', `/templates/${info.templateId}`);
  assert.equal(del.status, 204);
  await assert.rejects(Sandbox.create(doomed, opts), /not found/);
  assert.equal(await Template.exists(doomed, opts), false);
  assert.equal((await api('DELETE', `/templates/${info.templateId}`)).status, 404);
  // A sandbox already running from it keeps working.
  assert.equal((await sbx.commands.run('cat ~/d')).stdout.trim(), `doomed-${runId}`);
  // Its runtime template and the layer only it used are gone from the runtime's directory.
  assert.equal(existsSync(join(templatesDir, `tb-${info.buildId}`)), false);
  assert.equal(layerDirs().includes(added[0]), false);
  // Layers that templates still in the registry stand on stay: the first template rebuilds fully cached.
  const { logs } = await build(appTemplate(), name);
  const steps = logs.filter((l) => /^(CACHED )?\[\d+\/\d+\]/.test(l.message));
  assert.ok(steps.length === 9 && steps.every((l) => l.message.startsWith('CACHED ')), steps.map((l) => l.message).join('\n'));
});

test('the CLI list shape and publish', async () => {
  const list = await api('GET', '/templates');
  assert.equal(list.status, 200);
  const mine = list.body.find((t) => t.names.includes(name));
  assert.ok(mine, JSON.stringify(list.body));
  for (const f of ['templateID', 'buildID', 'cpuCount', 'memoryMB', 'diskSizeMB', 'envdVersion', 'public', 'aliases', 'createdAt', 'updatedAt', 'spawnCount', 'buildCount', 'buildStatus'])
    assert.ok(f in mine, f);
  assert.ok(mine.spawnCount >= 2, JSON.stringify(mine));
  assert.ok(mine.buildCount >= 2);
  assert.equal(mine.buildStatus, 'ready');
  const pub = await api('PATCH', `/v2/templates/${mine.templateID}`, { public: true });
  assert.equal(pub.status, 200);
  assert.deepEqual(pub.body.names, [name]);
  // Public: another team may start from it now, still not change it.
  const sbx = created.add(await Sandbox.create(name, { ...other.opts }));
  assert.ok(sbx.sandboxId);
  assert.equal((await api('DELETE', `/templates/${mine.templateID}`, undefined, other.key)).status, 404);
  await api('PATCH', `/v2/templates/${mine.templateID}`, { public: false });
});

// ---------------------------------------------------------------------------- fromImage, aptInstall

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** The shared libraries (and loader) the binaries load, as ldd names them. */
function libraries(...binaries) {
  const found = new Set();
  for (const b of binaries) {
    for (const line of execFileSync('ldd', [b], { encoding: 'utf8' }).split('\n')) {
      const path = (line.includes('=>') ? line.split('=>')[1] : line).trim().split(' ')[0];
      if (path.startsWith('/')) found.add(path);
    }
  }
  return [...found];
}

/**
 * Writes an OCI image layout (one gzip layer, a config, a manifest, index.json tagging it) of the
 * files under rootfs. Deterministic (sorted, mtime 0, root-owned, gzip without a timestamp): the
 * same files give the same digest, so reruns reuse the portal's unpacked copy.
 */
function writeOciLayout(layoutDir, rootfs, tag, config) {
  mkdirSync(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  const blob = (bytes) => {
    const digest = sha256(bytes);
    writeFileSync(join(layoutDir, 'blobs', 'sha256', digest), bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const tar = execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-c', '.'], { maxBuffer: 1 << 28 });
  const layer = blob(gzipSync(tar));
  const cfg = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', config,
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
  })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })));
  writeFileSync(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layoutDir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
}

test('fromImage of an OCI layout this test made: the image\'s files and config env, a RUN on it, a sandbox from it', {
  skip: !process.env.PORTAL_OCI_LAYOUTS && 'PORTAL_OCI_LAYOUTS not set (scripts/e2e-portal.sh sets it with the portal\'s layout directory)',
}, async () => {
  // Nothing but the host's bash and dash with their libraries and the libraries envd loads: what
  // else a sandbox needs (the user, envd's mount point, /tmp) the portal adds when it unpacks.
  const rootfs = mkdtempSync(join(tmpdir(), 'portal-image-'));
  try {
    const envd = process.env.PORTAL_ENVD_PATH;
    for (const file of ['/bin/bash', '/bin/sh', ...libraries('/bin/bash', '/bin/sh', envd)]) {
      mkdirSync(join(rootfs, dirname(file)), { recursive: true });
      copyFileSync(file, join(rootfs, file)); // follows links: /bin/sh is dash itself here
      chmodSync(join(rootfs, file), statSync(file).mode & 0o777);
    }
    mkdirSync(join(rootfs, 'srv'));
    writeFileSync(join(rootfs, 'etc-message'), 'hello from an OCI image\n');
    writeOciLayout(join(process.env.PORTAL_OCI_LAYOUTS, 'e2e-hostbash'), rootfs, '1',
      { Env: ['PATH=/usr/bin:/bin', 'IMAGE_GREETING=from-the-image-config'], WorkingDir: '/srv' });
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }

  const template = Template()
    .fromImage('oci-layout:e2e-hostbash:1')
    .runCmd('read -r m < /etc-message; echo "$m / $IMAGE_GREETING / $PWD / $EUID" > built.txt')
    .setEnvs({ STEP: 'two' });
  const { info, text } = await build(template, `img-${runId}`);
  assert.match(text, /FROM image oci-layout:e2e-hostbash:1/);

  const sbx = created.add(await Sandbox.create(info.templateId, opts));
  const r = await sbx.commands.run('read -r b < /srv/built.txt; echo "$b | $STEP | $IMAGE_GREETING"');
  assert.equal(r.stdout, 'hello from an OCI image / from-the-image-config / /srv / 0 | two | from-the-image-config\n');
  // The image has no coreutils: what runs is its bash, not the host's or base's tools.
  const ls = await sbx.commands.run('command -v ls || echo "no ls"');
  assert.equal(ls.stdout, 'no ls\n');
});

/** A .deb of the test's own (dpkg-deb from the host) in a flat repository with Packages and Release. */
function writeDebianRepository(repo) {
  const pkg = mkdtempSync(join(tmpdir(), 'portal-deb-'));
  try {
    mkdirSync(join(pkg, 'DEBIAN'));
    mkdirSync(join(pkg, 'usr', 'bin'), { recursive: true });
    writeFileSync(join(pkg, 'DEBIAN', 'control'), [
      'Package: portal-e2e-hello', 'Version: 1.0', 'Architecture: all',
      'Maintainer: Sandbox Portal tests <tests@sandbox-portal.invalid>',
      'Description: prints a greeting (a package the e2e suite builds)', '',
    ].join('\n'));
    writeFileSync(join(pkg, 'usr', 'bin', 'portal-e2e-hello'), '#!/bin/sh\necho "hello from a Debian package"\n', { mode: 0o755 });
    mkdirSync(repo, { recursive: true });
    const deb = join(repo, 'portal-e2e-hello_1.0_all.deb');
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', pkg, deb], { stdio: 'ignore' });
    const bytes = readFileSync(deb);
    const control = readFileSync(join(pkg, 'DEBIAN', 'control'), 'utf8').trimEnd();
    const packages = `${control}\nFilename: ./portal-e2e-hello_1.0_all.deb\nSize: ${bytes.length}\nSHA256: ${sha256(bytes)}\n\n`;
    writeFileSync(join(repo, 'Packages'), packages);
    writeFileSync(join(repo, 'Release'), `Date: ${new Date().toUTCString()}\nSHA256:\n ${sha256(Buffer.from(packages))} ${Buffer.byteLength(packages)} Packages\n`);
  } finally {
    rmSync(pkg, { recursive: true, force: true });
  }
}

test('aptInstall installs a package from the Debian repository the template names (apt-get update and install as root)', async () => {
  const ctx = mkdtempSync(join(tmpdir(), 'portal-apt-'));
  try {
    writeDebianRepository(join(ctx, 'repo'));
    // The template's only apt source is the repository it carries: sandboxes here reach no mirror.
    const template = Template({ fileContextPath: ctx })
      .fromTemplate('base')
      .copy('repo', '/opt/portal-e2e-repo', { user: 'root' })
      .runCmd('rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && echo "deb [trusted=yes] file:/opt/portal-e2e-repo ./" > /etc/apt/sources.list.d/portal-e2e.list', { user: 'root' })
      .aptInstall(['portal-e2e-hello']);
    const { info, text } = await build(template, `apt-${runId}`);
    assert.match(text, /apt-get/);
    const sbx = created.add(await Sandbox.create(info.templateId, opts));
    const r = await sbx.commands.run('portal-e2e-hello && dpkg-query -W -f \'${Status}\' portal-e2e-hello');
    assert.equal(r.stdout, 'hello from a Debian package\ninstall ok installed');
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});
