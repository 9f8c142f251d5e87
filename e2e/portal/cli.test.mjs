// The real E2B CLI (@e2b/cli, its own bundled SDK) against the portal: `sandbox list`, `sandbox
// create` (= the deprecated `spawn`: an interactive terminal; the CLI needs a TTY, so it runs
// under util-linux's `script`, which gives it a pseudo-terminal and forwards what this test
// writes), `sandbox kill`, `template create` from a Dockerfile, `template list` and `template delete`.
// Settings exactly as a user sets them (docs/api.md): E2B_API_KEY, E2B_API_URL, E2B_SANDBOX_URL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox, Template } from 'e2b';
import { opts, PORTAL_URL, API_KEY, runId, sleep, tracker, onFakeKubelet } from './_env.mjs';

const created = tracker();
after(() => created.cleanup(Sandbox));

const CLI = fileURLToPath(new URL('../node_modules/@e2b/cli/dist/index.js', import.meta.url));
const env = {
  PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', TERM: 'xterm',
  E2B_API_KEY: API_KEY, E2B_API_URL: PORTAL_URL, E2B_SANDBOX_URL: PORTAL_URL,
  NO_UPDATE_NOTIFIER: '1',
};
// eslint-disable-next-line no-control-regex
const plain = (s) => s.replace(/\x1b\][^\x07]*\x07|\x1b\[[0-9;?]*[A-Za-z]/g, '');

async function cli(...args) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env, timeout: 60_000 });
    return { code: 0, stdout: plain(stdout), stderr: plain(stderr) };
  } catch (e) {
    return { code: e.code, stdout: plain(e.stdout ?? ''), stderr: plain(e.stderr ?? '') };
  }
}

test('e2b sandbox list shows the team\'s running sandboxes (pretty and JSON, metadata filter)', async () => {
  const sbx = created.add(await Sandbox.create('base', { ...opts, metadata: { cli: runId } }));
  const json = await cli('sandbox', 'list', '-m', `cli=${runId}`, '-f', 'json');
  assert.equal(json.code, 0, json.stderr);
  const listed = JSON.parse(json.stdout);
  assert.deepEqual(listed.map((s) => s.sandboxId), [sbx.sandboxId]);
  assert.equal(listed[0].templateId, 'base');
  const pretty = await cli('sandbox', 'list');
  assert.equal(pretty.code, 0, pretty.stderr);
  assert.match(pretty.stdout, new RegExp(sbx.sandboxId));
});

for (const command of ['create', 'spawn']) test(`e2b sandbox ${command} opens a terminal in a new sandbox: a command typed into it runs there`, async () => {
  // `script -q -e -c CMD /dev/null`: CMD on a pseudo-terminal, our pipe as its keyboard. The
  // terminal's size is set first, as a terminal emulator would (the CLI sends it to the sandbox).
  const child = spawn('script', ['-q', '-e', '-c', `stty cols 120 rows 40; ${process.execPath} ${CLI} sandbox ${command} base`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d.toString(); });
  child.stderr.on('data', (d) => { out += d.toString(); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const waitFor = async (re, what) => {
    for (let i = 0; i < 600 && !re.test(plain(out)); i++) await sleep(100);
    assert.match(plain(out), re, `${what}; the terminal showed: ${plain(out)}`);
  };
  try {
    await waitFor(/with sandbox ID (\w+)/, 'the CLI names the sandbox it made');
    const id = plain(out).match(/with sandbox ID (\w+)/)[1];
    created.add({ sandboxId: id });
    // The prompt names the sandbox as its host (on the fake kubelet, envd is a process of this machine).
    await waitFor(onFakeKubelet ? /user@[^\s:]+:[^$]*\$ / : new RegExp(`user@${id}:~\\$ `), 'a shell prompt as user');
    child.stdin.write('echo "hi from $(hostname) $((6*7))"; exit\r');
    await waitFor(onFakeKubelet ? /hi from \S+ 42/ : new RegExp(`hi from ${id} 42`), 'the command ran in the sandbox');
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout')]);
    assert.equal(code, 0, `the CLI ended after the shell exited: ${plain(out)}`);
    assert.match(plain(out), /Closing terminal connection/);
    // On exit the CLI sets the sandbox's timeout to 1 s: the portal ends it.
    let state = 'running';
    for (let i = 0; i < 100 && state !== 'gone'; i++) {
      await sleep(200);
      state = await Sandbox.getInfo(id, opts).then((s) => s.state, () => 'gone');
    }
    assert.equal(state, 'gone');
  } finally {
    child.kill('SIGKILL');
  }
});

test('e2b sandbox kill ends a sandbox; an unknown ID is reported, not an error', async () => {
  const sbx = created.add(await Sandbox.create('base', opts));
  const killed = await cli('sandbox', 'kill', sbx.sandboxId);
  assert.equal(killed.code, 0, killed.stderr);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId, opts), (e) => e.name === 'SandboxNotFoundError' || e.name === 'NotFoundError');
  const unknown = await cli('sandbox', 'kill', 'nosuchsandbox1234');
  assert.match(unknown.stdout + unknown.stderr, /nosuchsandbox1234 wasn't found/);
});

test('e2b template list shows a template the SDK built (JSON and pretty); e2b template delete removes it', {
  skip: onFakeKubelet && 'template builds are a feature of the local runtime',
}, async () => {
  const alias = `cli-list-${runId}`;
  const built = await Template.build(Template().fromTemplate('base').setEnvs({ CLI_LIST: runId }), alias, opts);
  try {
    const json = await cli('template', 'list', '-f', 'json');
    assert.equal(json.code, 0, json.stderr);
    const mine = JSON.parse(json.stdout).find((t) => t.templateID === built.templateId);
    assert.ok(mine, json.stdout);
    assert.deepEqual(mine.aliases, [alias]);
    assert.equal(mine.buildStatus, 'ready');
    const pretty = await cli('template', 'list');
    assert.equal(pretty.code, 0, pretty.stderr);
    assert.match(pretty.stdout, new RegExp(alias));
  } finally {
    const deleted = await cli('template', 'delete', built.templateId, '-y');
    assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
  }
  assert.equal(await Template.exists(alias, opts), false);
});

test('e2b template create builds a Dockerfile (FROM a Debian-family image) into a template sandboxes start from', {
  skip: onFakeKubelet && 'template builds are a feature of the local runtime',
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portal-cli-dockerfile-'));
  const alias = `cli-df-${runId}`;
  let templateId;
  try {
    writeFileSync(join(dir, 'greeting.txt'), 'copied by the Dockerfile\n');
    writeFileSync(join(dir, 'Dockerfile'), [
      'FROM python:3.11-slim',
      'ENV FROM_DOCKERFILE=yes',
      'COPY greeting.txt /opt/cli/greeting.txt',
      'RUN echo "ran as $(whoami)" > /opt/cli/run.txt',
      'WORKDIR /opt/cli',
      '',
    ].join('\n'));
    const built = await cli('template', 'create', alias, '-p', dir, '-d', 'Dockerfile', '--cpu-count', '1', '--memory-mb', '512');
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const listed = JSON.parse((await cli('template', 'list', '-f', 'json')).stdout).find((t) => t.aliases?.includes(alias));
    assert.ok(listed, 'the new template is listed');
    templateId = listed.templateID;
    assert.equal(listed.cpuCount, 1);
    assert.equal(listed.memoryMB, 512);

    const sbx = created.add(await Sandbox.create(alias, opts));
    const r = await sbx.commands.run('cat greeting.txt run.txt; echo "$FROM_DOCKERFILE $PWD"; python3 --version');
    assert.match(r.stdout, /^copied by the Dockerfile\nran as root\nyes \/opt\/cli\nPython 3\.11/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (templateId) await cli('template', 'delete', templateId, '-y');
  }
});
