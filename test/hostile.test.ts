// Hostile peers on the private internet, against a running fedpeer whose
// notary fetches from them: a server that never answers, one that drips a
// byte a second, one that sends a 100 MB body, one that speaks garbage instead
// of TLS, a well-known redirect loop, and DNS that times out or fails. The
// notary answer must come back within its bound without them, memory must
// stay bounded, and fedpeer's own endpoints must keep answering meanwhile.
import t from 'tap';
import * as net from 'node:net';
import * as https from 'node:https';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { startFixture } from './harness/server-fixture.js';

const world = await federationWorld('hostile');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

dns.set('b.test', 'A', addr(1, 1));
const B = await startFixture({
  address: addr(1, 1),
  serverName: 'b.test',
  certNames: ['b.test', addr(1, 1)],
  raw: {
    federation_custom_ca_list: [world.caFile],
    federation_dns_servers: [world.dns.hostPort],
    ip_range_whitelist: ['127.61.0.0/16'],
    federation_client: { request_timeout: '3s' },
  },
});
t.teardown(() => B.close());

const sockets = new Set<net.Socket>();
const rawServers: net.Server[] = [];
async function raw(address: string, port: number, onConnection: (s: net.Socket) => void) {
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((r) => server.listen(port, address, r));
  rawServers.push(server);
}
t.teardown(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(rawServers.map((s) => new Promise((r) => s.close(r))));
});

// h1: accepts TCP and says nothing.
dns.set('h1.test', 'A', addr(2, 1));
await raw(addr(2, 1), 8448, () => undefined);
// h4: garbage instead of a TLS handshake.
dns.set('h4.test', 'A', addr(2, 4));
await raw(addr(2, 4), 8448, (s) => s.end('HTTP/1.1 200 OK\r\n\r\nthis is not TLS'));

const leafFor = (name: string) => pki.leaf([name]);
// h2: valid TLS, then a byte a second.
dns.set('h2.test', 'A', addr(2, 2));
const l2 = await leafFor('h2.test');
const drip = await startHttpsServer({
  address: addr(2, 2),
  port: 8448,
  certificates: { certPem: l2.chainPem, keyPem: l2.keyPem },
  handler: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write(' '), 1000);
    res.on('close', () => clearInterval(timer));
  },
});
t.teardown(() => drip.close());
// h3 (declared) and h8 (chunked, no length): a 100 MB body, as fast as it can go.
const bigBytesSent: Record<string, number> = { 'h3.test': 0, 'h8.test': 0 };
for (const [name, d, declared] of [['h3.test', 3, true], ['h8.test', 8, false]] as const) {
  dns.set(name, 'A', addr(2, d));
  const leaf = await leafFor(name);
  const big = await startHttpsServer({
    address: addr(2, d),
    port: 8448,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...(declared ? { 'content-length': String(100 * 1024 * 1024) } : {}) });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (bigBytesSent[name]! < 100 * 1024 * 1024 && !res.destroyed) {
          bigBytesSent[name]! += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    },
  });
  t.teardown(() => big.close());
}
// h5: the well-known redirects to itself, forever.
dns.set('h5.test', 'A', addr(2, 5));
const l5 = await leafFor('h5.test');
const loop = await startHttpsServer({
  address: addr(2, 5),
  port: 443,
  certificates: { certPem: l5.chainPem, keyPem: l5.keyPem },
  handler: (_req, res) => void res.writeHead(302, { location: 'https://h5.test/.well-known/matrix/server' }).end(),
});
t.teardown(() => loop.close());
// h6, h7: DNS that times out, DNS that fails.
dns.setBehaviour('h6.test', 'timeout');
dns.setBehaviour('h7.test', 'servfail');

function getKeyDoc(): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: addr(1, 1), port: 8448, path: '/_matrix/key/v2/server', ca: pki.root.certPem, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

t.test('the notary survives hostile peers and fedpeer keeps answering', async (t) => {
  const hostile = ['h1.test', 'h2.test', 'h3.test', 'h4.test', 'h5.test', 'h6.test', 'h7.test', 'h8.test'];
  const rssBefore = process.memoryUsage().rss;
  const started = Date.now();
  const notary = B.server.peer.client.request('b.test', 'POST', '/_matrix/key/v2/query', {
    body: { server_keys: Object.fromEntries(hostile.map((h) => [h, {}])) },
    sign: false,
    timeoutMs: 20_000,
  });
  // Meanwhile: 100 key document requests, sequential, bounded.
  const statuses: number[] = [];
  let peakRss = rssBefore;
  for (let i = 0; i < 100 && Date.now() - started < 15_000; i++) {
    statuses.push(await getKeyDoc());
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const r = await notary;
  const took = Date.now() - started;
  t.same((r.body as { server_keys: unknown[] }).server_keys, [], 'no hostile server vouched for');
  t.ok(took < 15_000, `notary answered in ${took} ms (outbound request timeout 3 s, well-known and DNS bounded)`);
  t.equal(statuses.length, 100);
  t.ok(statuses.every((s) => s === 200), 'every key document request answered 200 meanwhile');
  for (const [name, sent] of Object.entries(bigBytesSent)) {
    t.ok(sent < 20 * 1024 * 1024, `${name}: the 100 MB body was cut off early (${(sent / 1024 / 1024).toFixed(1)} MiB written before the reset)`);
  }
  const growth = (peakRss - rssBefore) / 1024 / 1024;
  t.ok(growth < 64, `resident memory grew ${growth.toFixed(1)} MiB`);
  for (const h of hostile) {
    const attempt = await B.server.peer.keyStore.getServerKeys(h, { notaries: false });
    t.notOk(attempt.keys, `${h}: no keys`);
    t.ok(attempt.attempts.length > 0 || B.server.peer.client.backoff?.state(h), `${h}: failed (${attempt.attempts[0]?.error ?? 'backed off'})`);
  }
  t.ok(B.server.peer.client.backoff?.state('h1.test'), 'a dead destination is backed off');
});
