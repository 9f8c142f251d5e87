// The fake "internet" of the networking suites, run INSIDE the network namespace that
// scripts/fake-internet.sh builds (documentation addresses only, nothing leaves the machine):
// HTTP on 80 and TLS on 443 answering several names (the answer says which address, Host/SNI
// and port it got), a TCP echo on 7000, and a DNS server for the test names.
//   node fake-internet.mjs CERT KEY
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dgram from 'node:dgram';
import fs from 'node:fs';

const [cert, key] = process.argv.slice(2).map((f) => fs.readFileSync(f));
export const HOSTS = { a: '192.0.2.10', b: '192.0.2.20', c: '203.0.113.30' };
const ZONE = {
  'example.test': HOSTS.a,
  'api.example.test': HOSTS.a,
  'deep.api.example.test': HOSTS.a,
  'other.test': HOSTS.b,
  'www.other.test': HOSTS.b,
  'third.test': HOSTS.c,
};

const answer = (proto) => (req, res) => {
  const body = JSON.stringify({ proto, local: req.socket.localAddress, port: req.socket.localPort, host: req.headers.host ?? null, sni: req.socket.servername ?? null, path: req.url });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body + '\n');
};

for (const ip of Object.values(HOSTS)) {
  http.createServer(answer('http')).listen(80, ip);
  https.createServer({ cert, key }, answer('https')).listen(443, ip);
  net.createServer((s) => s.pipe(s)).listen(7000, ip);
  // iperf-free throughput check: whatever is sent is counted and dropped.
  net.createServer((s) => s.resume()).listen(7001, ip);
}

// DNS: A records of ZONE, NXDOMAIN otherwise (RFC 1035 4.1, just enough for resolvers).
const dns = dgram.createSocket('udp4');
dns.on('message', (q, rinfo) => {
  if (q.length < 12) return;
  let i = 12;
  const labels = [];
  while (i < q.length && q[i] !== 0) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString('ascii')); i += 1 + q[i]; }
  const qEnd = i + 5;
  const name = labels.join('.').toLowerCase();
  const qtype = q.readUInt16BE(i + 1);
  const ip = ZONE[name];
  const header = Buffer.alloc(12);
  q.copy(header, 0, 0, 2);
  const found = ip !== undefined;
  header.writeUInt16BE(0x8180 | (q.readUInt16BE(2) & 0x0100) | (found ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  const withA = found && qtype === 1;
  header.writeUInt16BE(withA ? 1 : 0, 6);
  const parts = [header, q.subarray(12, qEnd)];
  if (withA) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(1, 2); rr.writeUInt16BE(1, 4); rr.writeUInt32BE(60, 6); rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, k) => { rr[12 + k] = Number(o); });
    parts.push(rr);
  }
  dns.send(Buffer.concat(parts), rinfo.port, rinfo.address);
});
dns.bind(53, '203.0.113.53');
console.log('fake internet up');
