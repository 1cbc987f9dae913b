// The seed scenario both ways: user IDs on example.test, the homeserver on
// hs.example.test, a real fedpeer serving both certificates by SNI on
// 127.25.1.1:8448, reached by fedpeer's own client.
//   - SRV _matrix._tcp.example.test -> hs.example.test:8448: the certificate
//     must be valid for example.test (the server name, not the SRV target);
//   - well-known {"m.server": "hs.example.test"}: it must be valid for
//     hs.example.test (the delegated name).
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { startFixture } from './harness/server-fixture.js';

const world = await federationWorld('seed-scenario');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

// Both certificates, by SNI: example.test as tls_certificate_path, hs.example.test in tls_certificates.
const hsLeaf = await pki.leaf(['hs.example.test']);
writeFileSync(join(world.dir, 'hs.crt'), hsLeaf.chainPem);
writeFileSync(join(world.dir, 'hs.key'), hsLeaf.keyPem);
const both = await startFixture({
  address: addr(1, 1),
  serverName: 'example.test',
  certNames: ['example.test'],
  raw: { tls_certificates: [{ certificate_path: join(world.dir, 'hs.crt'), private_key_path: join(world.dir, 'hs.key') }] },
});
t.teardown(() => both.close());
// Only the homeserver's own certificate: fine for delegation, wrong for SRV.
const hsOnly = await startFixture({ address: addr(2, 1), serverName: 'srvonly.test', certNames: ['hs.srvonly.test'] });
t.teardown(() => hsOnly.close());
// Only the domain's certificate: fine for SRV, wrong for delegation.
const domainOnly = await startFixture({ address: addr(3, 1), serverName: 'wkonly.test', certNames: ['wkonly.test'] });
t.teardown(() => domainOnly.close());

const keyPath = '/_matrix/key/v2/server';

t.test('SRV: _matrix._tcp.example.test -> hs.example.test:8448, certificate for example.test', async (t) => {
  dns.set('_matrix._tcp.example.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'hs.example.test' });
  dns.set('hs.example.test', 'A', addr(1, 1));
  // example.test has no address, so there is no well-known to find.
  const client = await world.client();
  const r = await client.request('example.test', 'GET', keyPath);
  t.equal(r.status, 200);
  t.match(r.body, { server_name: 'example.test' });
  t.same(r.target, { address: addr(1, 1), port: 8448, host: 'example.test', tls_name: 'example.test' });
  t.same(r.resolution.steps.map((s) => `${s.step}:${s.outcome}`), ['well-known:failed', 'srv:none', 'srv-legacy:found', 'srv-target:found']);

  dns.set('_matrix._tcp.srvonly.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'hs.srvonly.test' });
  dns.set('hs.srvonly.test', 'A', addr(2, 1));
  const err = await client.request('srvonly.test', 'GET', keyPath).catch((e: unknown) => e);
  t.match(err, { step: 'tls', check: 'certificate-name', message: /must be valid for srvonly\.test/ }, 'a certificate for the SRV target only is refused');
});

t.test('well-known: {"m.server": "hs.example.test"}, certificate for hs.example.test', async (t) => {
  const wkLeaf = await pki.leaf(['example.test', 'wkonly.test']);
  const wk = await startHttpsServer({
    address: addr(1, 2),
    port: 443,
    certificates: { certPem: wkLeaf.chainPem, keyPem: wkLeaf.keyPem },
    handler: (req, res) => {
      const server = req.headers.host === 'wkonly.test' ? 'hs.wkonly.test' : 'hs.example.test';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ 'm.server': server }));
    },
  });
  t.teardown(() => wk.close());
  dns.set('example.test', 'A', addr(1, 2));
  const client = await world.client();
  const r = await client.request('example.test', 'GET', keyPath);
  t.equal(r.status, 200);
  t.match(r.body, { server_name: 'example.test' });
  t.same(r.target, { address: addr(1, 1), port: 8448, host: 'hs.example.test', tls_name: 'hs.example.test' });
  t.equal(r.resolution.delegatedTo, 'hs.example.test');
  t.match(wk.requests, [{ host: 'example.test', sni: 'example.test', path: '/.well-known/matrix/server' }]);

  dns.set('wkonly.test', 'A', addr(1, 2));
  dns.set('hs.wkonly.test', 'A', addr(3, 1));
  await t.rejects(client.request('wkonly.test', 'GET', keyPath), { name: 'FederationError', step: 'tls', check: 'certificate-name' }, 'a certificate for the delegating domain only is refused');
});
