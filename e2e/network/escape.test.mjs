// Escape attempts from inside a sandbox, as `user` and as root: none may reach the host's own
// services, another sandbox, link-local/metadata or private addresses, send with another source
// address or craft frames on its veth. And the portal's nftables table after 100 sandboxes with
// rules come and go holds what it held before. Run through scripts/e2e-network.sh.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { Sandbox } from 'e2b';
import { opts, tracker, PORTAL_URL, sleep } from '../portal/_env.mjs';

const t = tracker();
after(() => t.cleanup(Sandbox));
const TABLE = process.env.PORTAL_E2E_NET_TABLE;

async function run(sbx, cmd, user) {
  const r = await sbx.commands.run(cmd, { user }).catch((e) => e);
  return { code: r.exitCode, out: (r.stdout ?? '').trim(), err: (r.stderr ?? '').trim() };
}
/** 'open' when a TCP connect from the sandbox to host:port succeeds within 3 s. */
async function tcp(sbx, host, port, user) {
  const r = await run(sbx, `python3 -c "import socket;socket.create_connection(('${host}',${port}),3);print('open')"`, user);
  return r.out === 'open' ? 'open' : 'closed';
}
const addressOf = async (sbx) => (await run(sbx, "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")).out;
const gatewayOf = async (sbx) => (await run(sbx, "ip route show default | awk '{print $3}'")).out;

test('no way from a sandbox to the host, another sandbox, metadata or private ranges; no spoofing (user and root)', async () => {
  // A service on the host, listening on every address.
  const server = net.createServer((s) => s.end('host\n')).listen(0, '0.0.0.0');
  await new Promise((r) => server.once('listening', r));
  const hostPort = server.address().port;
  const portalPort = Number(new URL(PORTAL_URL).port);
  const hostAddresses = Object.values(os.networkInterfaces()).flat().filter((a) => a.family === 'IPv4').map((a) => a.address);
  try {
    const x = t.add(await Sandbox.create('base', opts));
    const y = t.add(await Sandbox.create('base', opts));
    await y.commands.run('python3 -m http.server 8080', { background: true });
    const yAddress = await addressOf(y);
    const gw = await gatewayOf(x);
    assert.match(yAddress, /^10\.251\./);
    // The neighbour's server is up (seen from inside it).
    for (let i = 0; i < 50 && (await tcp(y, '127.0.0.1', 8080)) !== 'open'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await tcp(y, '127.0.0.1', 8080), 'open');
    for (const user of ['user', 'root']) {
      for (const target of [gw, ...hostAddresses]) {
        assert.equal(await tcp(x, target, hostPort, user), 'closed', `${user} -> host ${target}:${hostPort}`);
        assert.equal(await tcp(x, target, portalPort, user), 'closed', `${user} -> portal ${target}:${portalPort}`);
      }
      assert.equal(await tcp(x, '127.0.0.1', portalPort, user), 'closed', `${user} -> own loopback, portal port`);
      assert.equal(await tcp(x, yAddress, 8080, user), 'closed', `${user} -> other sandbox`);
      for (const target of ['169.254.169.254', '10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1']) {
        assert.equal(await tcp(x, target, 80, user), 'closed', `${user} -> ${target}`);
      }
    }
    // Root cannot change its address or routes, nor open raw or packet sockets (spoofed sources, ARP).
    assert.notEqual((await run(x, `ip addr add ${yAddress}/32 dev eth0`, 'root')).code, 0);
    assert.notEqual((await run(x, 'ip route add 192.0.2.0/24 dev eth0', 'root')).code, 0);
    assert.notEqual((await run(x, 'ip link set eth0 address 02:00:00:00:00:01', 'root')).code, 0);
    const raw = await run(x, `python3 -c "import socket;socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)"`, 'root');
    assert.notEqual(raw.code, 0);
    assert.match(raw.err, /Operation not permitted|PermissionError/);
    const packet = await run(x, `python3 -c "import socket;socket.socket(socket.AF_PACKET,socket.SOCK_RAW,0x0806)"`, 'root');
    assert.notEqual(packet.code, 0);
    // Binding to another address is refused by the kernel: it is not one of the sandbox's.
    const bind = await run(x, `python3 -c "import socket;s=socket.socket();s.bind(('${yAddress}',0))"`, 'root');
    assert.notEqual(bind.code, 0);
    // And the legitimate way out still works for both.
    assert.equal(await tcp(x, '192.0.2.10', 80, 'user'), 'open');
    assert.equal(await tcp(x, '192.0.2.10', 80, 'root'), 'open');
  } finally {
    server.close();
  }
});

/** The table without the per-interface sets, which the warm pool refills with other slots. */
function table() {
  const text = execFileSync('nft', ['list', 'table', 'inet', TABLE], { encoding: 'utf8' });
  return text.replace(/set (ifs|srcs) \{[^}]*\}/g, 'set $1 {}');
}

test('the nftables table after 100 sandboxes with rules come and go is as before', { timeout: 600_000 }, async () => {
  assert.ok(TABLE, 'PORTAL_E2E_NET_TABLE is set by scripts/e2e-network.sh');
  const before = table();
  // The sandboxes of the test before are still alive (killed after the file): they keep theirs.
  const interfacesBefore = interfaces().length;
  const rules = [
    { network: { denyOut: ['0.0.0.0/0'], allowOut: ['192.0.2.0/28', '203.0.113.30'] } },
    { network: { denyOut: ['0.0.0.0/0'], allowOut: ['example.test', '*.other.test'] } },
    { allowInternetAccess: false },
    { network: { denyOut: ['192.0.2.20'] } },
    {},
  ];
  for (let batch = 0; batch < 10; batch++) {
    const made = await Promise.all(Array.from({ length: 10 }, (_, i) => Sandbox.create('base', { ...opts, ...rules[(batch * 10 + i) % rules.length] })));
    assert.notEqual(table(), before, 'the sandboxes\' rules are in the table while they live');
    await Promise.all(made.map((s) => s.kill()));
  }
  assert.equal(table(), before);
  // Interfaces: as many as before (a warm pool refills with other slots, so names may differ).
  let left = interfaces();
  for (let i = 0; i < 40 && left.length > interfacesBefore; i++) { await sleep(250); left = interfaces(); }
  assert.ok(left.length <= interfacesBefore, `interfaces left: ${left.length}, ${interfacesBefore} before: ${left.join(' ')}`);
});

function interfaces() {
  return execFileSync('nft', ['list', 'set', 'inet', TABLE, 'ifs'], { encoding: 'utf8' }).match(/spx[0-9a-f]{8}/g) ?? [];
}
