// Federation requests end to end on 127.22.x.y: targets tried in order on
// connection failure only, Host and SNI, keep-alive, time and size bounds,
// typed errors, the signing hook and the domain whitelist.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { FederationError, type SigningInput } from '../src/federation/client.js';

const world = await federationWorld('client');
const { dns, pki, addr } = world;
t.teardown(() => world.close());
const servers: TestHttpsServer[] = [];
t.teardown(() => Promise.all(servers.map((s) => s.close())));

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
const ports: number[] = [];
const bodies: string[] = [];
const headersSeen: Array<Record<string, unknown>> = [];
const recorder: Handler = async (req, res) => {
  ports.push(req.socket.remotePort ?? 0);
  headersSeen.push(req.headers);
  let body = '';
  for await (const chunk of req) body += chunk;
  bodies.push(body);
  if (req.url === '/big') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify({ pad: 'x'.repeat(5000) }));
  }
  if (req.url === '/missing') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"errcode":"M_NOT_FOUND","error":"no such thing"}');
  if (req.url === '/html') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
  if (req.url === '/html500') return void res.writeHead(500, { 'content-type': 'text/html' }).end('<html>');
  if (req.url === '/empty') return void res.writeHead(200).end();
  if (req.url === '/slow') return; // never answers
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ method: req.method, path: req.url, host: req.headers.host }));
};

async function peer(c: number, d: number, certNames: string[], port = 8448): Promise<TestHttpsServer> {
  const leaf = await pki.leaf(certNames);
  const s = await startHttpsServer({ address: addr(c, d), port, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: recorder });
  servers.push(s);
  return s;
}

const client = await world.client({ connectTimeoutMs: 500 });

t.test('GET and POST through SRV: Host and SNI are the server name, JSON both ways, keep-alive', async (t) => {
  const s = await peer(1, 1, ['app.test'], 8600);
  dns.set('_matrix-fed._tcp.app.test', 'SRV', { priority: 0, weight: 0, port: 8600, target: 'box.app.test' });
  dns.set('box.app.test', 'A', addr(1, 1));
  ports.length = 0;
  const r = await client.request('app.test', 'GET', '/_matrix/federation/v1/version?x=1');
  t.equal(r.status, 200);
  t.same(r.body, { method: 'GET', path: '/_matrix/federation/v1/version?x=1', host: 'app.test' });
  t.same(r.target, { address: addr(1, 1), port: 8600, host: 'app.test', tls_name: 'app.test' });
  t.match(s.requests, [{ sni: 'app.test', host: 'app.test' }]);
  const p = await client.request('app.test', 'PUT', '/_matrix/federation/v1/send/1', { body: { pdus: [], origin: 'me.test' } });
  t.equal(p.status, 200);
  t.equal(bodies[bodies.length - 1], '{"pdus":[],"origin":"me.test"}');
  t.match(headersSeen[headersSeen.length - 1], { 'content-type': 'application/json', 'user-agent': /^fedpeer\// });
  t.equal(ports.length, 2);
  t.equal(ports[0], ports[1], 'the second request reused the connection');
  t.equal(s.sniSeen.length, 1, 'one handshake');
  const empty = await client.request('app.test', 'GET', '/empty');
  t.equal(empty.body, undefined);
});

t.test('addresses are tried in order when a connection fails; IPv6 first', async (t) => {
  const s = await peer(2, 2, ['multi.test'], 8601);
  dns.set('multi.test', 'AAAA', '::1');
  dns.set('multi.test', 'A', [addr(2, 1), addr(2, 2)]);
  const r = await client.request('multi.test:8601', 'GET', '/x');
  t.equal(r.target.address, addr(2, 2));
  t.same(r.resolution.targets.map((x) => x.address), ['::1', addr(2, 1), addr(2, 2)]);
  t.equal(s.requests.length, 1);
});

t.test('a dead _matrix-fed target does not fall back to _matrix or 8448', async (t) => {
  const fallback = await peer(3, 1, ['deadsrv.test']);
  dns.set('_matrix-fed._tcp.deadsrv.test', 'SRV', { priority: 0, weight: 0, port: 8602, target: 'gone.deadsrv.test' });
  dns.set('_matrix._tcp.deadsrv.test', 'SRV', { priority: 0, weight: 0, port: 8448, target: 'deadsrv.test' });
  dns.set('gone.deadsrv.test', 'A', addr(3, 2));
  dns.set('deadsrv.test', 'A', addr(3, 1));
  const err = await client.request('deadsrv.test', 'GET', '/x').catch((e: unknown) => e);
  t.match(err, { step: 'connect', check: 'ECONNREFUSED', serverName: 'deadsrv.test' });
  t.ok((err as FederationError).steps?.length, 'steps attached');
  t.equal(fallback.requests.length, 0);
});

t.test('a refused certificate ends the request: the next address is not tried', async (t) => {
  const bad = await peer(4, 1, ['wrong.test']);
  const good = await peer(4, 2, ['tlsfirst.test']);
  dns.set('tlsfirst.test', 'A', [addr(4, 1), addr(4, 2)]);
  await t.rejects(client.request('tlsfirst.test:8448', 'GET', '/x'), { name: 'FederationError', step: 'tls', check: 'certificate-name' });
  t.equal(bad.requests.length, 0);
  t.equal(good.requests.length, 0);
});

t.test('bounds: time and response size', async (t) => {
  await peer(5, 1, ['bounds.test']);
  dns.set('bounds.test', 'A', addr(5, 1));
  const started = performance.now();
  await t.rejects(client.request('bounds.test:8448', 'GET', '/slow', { timeoutMs: 300 }), { name: 'FederationError', step: 'request', check: 'timeout' });
  t.ok(performance.now() - started < 1500);
  await t.rejects(client.request('bounds.test:8448', 'GET', '/big', { maxBytes: 1000 }), { name: 'FederationError', step: 'response', check: 'max-bytes' });
  t.equal((await client.request('bounds.test:8448', 'GET', '/big', { maxBytes: 10_000 })).status, 200);
});

t.test('nothing listening fails with connect; a silent TLS peer times out in the handshake', async (t) => {
  dns.set('refused.test', 'A', addr(5, 9));
  await t.rejects(client.request('refused.test:8448', 'GET', '/x'), { name: 'FederationError', step: 'connect', check: 'ECONNREFUSED', target: `${addr(5, 9)}:8448` });
  const silent = createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((r) => silent.listen(8448, addr(5, 10), r));
  t.teardown(() => new Promise<void>((r) => silent.close(() => r())));
  silent.on('connection', (s) => t.teardown(() => s.destroy()));
  dns.set('silent.test', 'A', addr(5, 10));
  await t.rejects(client.request('silent.test:8448', 'GET', '/x', { timeoutMs: 300 }), { name: 'FederationError', step: 'tls', check: 'timeout' });
});

t.test('typed errors for non-2xx and non-JSON answers', async (t) => {
  await peer(6, 1, ['errors.test']);
  dns.set('errors.test', 'A', addr(6, 1));
  const err = (await client.request('errors.test:8448', 'GET', '/missing').catch((e: unknown) => e)) as FederationError;
  t.type(err, FederationError);
  t.match(err, { step: 'response', check: 'status', status: 404, body: { errcode: 'M_NOT_FOUND' } });
  t.match(err.message, /M_NOT_FOUND: no such thing/);
  await t.rejects(client.request('errors.test:8448', 'GET', '/html'), { name: 'FederationError', step: 'response', check: 'json' });
  await t.rejects(client.request('errors.test:8448', 'GET', '/html500'), { name: 'FederationError', step: 'response', check: 'status', status: 500, body: '<html>' });
  await t.rejects(client.request('errors.test:8448', 'GET', 'relative'), { name: 'FederationError', step: 'request', check: 'path' });
});

t.test('the signing hook sets Authorization; sign: false leaves it out', async (t) => {
  await peer(7, 1, ['signed.test']);
  dns.set('signed.test', 'A', addr(7, 1));
  const inputs: SigningInput[] = [];
  const signing = await world.client({
    sign: async (input) => {
      inputs.push(input);
      return `X-Matrix origin="me.test",destination="${input.destination}",key="ed25519:a",sig="s"`;
    },
  });
  await signing.request('signed.test:8448', 'POST', '/_matrix/federation/v1/q?a=b', { body: { k: 1 } });
  t.same(inputs, [{ method: 'POST', uri: '/_matrix/federation/v1/q?a=b', destination: 'signed.test:8448', content: { k: 1 } }]);
  t.match(headersSeen[headersSeen.length - 1]?.authorization, /^X-Matrix origin="me.test",destination="signed.test:8448"/);
  await signing.request('signed.test:8448', 'GET', '/plain', { sign: false });
  t.equal(headersSeen[headersSeen.length - 1]?.authorization, undefined);
  await client.request('signed.test:8448', 'GET', '/own', { sign: () => 'X-Matrix custom' });
  t.equal(headersSeen[headersSeen.length - 1]?.authorization, 'X-Matrix custom');
});

t.test('federation_domain_whitelist limits whom requests go to', async (t) => {
  const limited = await world.client({ raw: { federation_domain_whitelist: ['signed.test:8448'] } });
  t.equal((await limited.request('signed.test:8448', 'GET', '/x')).status, 200);
  await t.rejects(limited.request('errors.test:8448', 'GET', '/x'), { name: 'FederationError', step: 'policy', check: 'federation_domain_whitelist' });
});

t.test('resolution errors surface as FederationError with steps', async (t) => {
  await t.rejects(client.request('nowhere.test:8448', 'GET', '/x'), { name: 'FederationError', step: 'dns', check: 'no-address' });
});

t.test('transport: one agent per target, least recently used dropped past the limit', async (t) => {
  const { createTransport } = await import('../src/federation/exchange.js');
  const { createAddressPolicy } = await import('../src/federation/ip-blocklist.js');
  const { tlsPolicyFromConfig } = await import('../src/federation/tls-policy.js');
  await peer(8, 1, ['lru.test']);
  const transport = createTransport({ tls: await tlsPolicyFromConfig(world.config()), addresses: createAddressPolicy([], []), maxAgents: 1 });
  t.teardown(() => transport.close());
  const req = { method: 'GET', path: '/x', timeoutMs: 2000, connectTimeoutMs: 1000, maxBytes: 10_000 };
  const a = await transport.exchange({ address: addr(8, 1), port: 8448, host: 'lru.test', tls_name: 'lru.test' }, req);
  t.equal(a.verified, true);
  t.equal(a.reused, false);
  t.equal((await transport.exchange({ address: addr(8, 1), port: 8448, host: 'lru.test', tls_name: 'lru.test' }, req)).reused, true);
  await peer(8, 2, ['lru.test']);
  t.equal((await transport.exchange({ address: addr(8, 2), port: 8448, host: 'lru.test', tls_name: 'lru.test' }, req)).reused, false);
  t.equal(transport.pooledAgents(), 1);
  t.equal((await transport.exchange({ address: addr(8, 1), port: 8448, host: 'lru.test', tls_name: 'lru.test' }, req)).reused, false, 'the first agent was dropped');
});
