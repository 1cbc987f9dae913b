// federation_routes on the private internet (127.100.x.y): real fedpeers
// with onion server names behind the harness's SOCKS5 server, which maps
// onion names to loopback peers the way Tor maps them to services; the test
// DNS server counts every query, and plain listeners count every connection
// a route must never make.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import type { CheckReport } from '../src/check/types.js';
import type { FederationClient } from '../src/federation/client.js';
import { FederationError } from '../src/federation/errors.js';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { startFixture } from './harness/server-fixture.js';
import { startSocksServer } from './harness/socks-server.js';

const world = await federationWorld('routes');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

// Version 3 onion addresses are 56 base32 characters.
const A = `${'fedpeera'.repeat(7)}.onion`;
const B = `${'fedpeerb'.repeat(7)}.onion`;
const C = `${'fedpeerc'.repeat(7)}.onion`;
const D = `${'fedpeerd'.repeat(7)}.onion`;

const proxy = await startSocksServer({ address: addr(0, 9), hosts: { [A]: addr(1, 1), [B]: addr(2, 1), [C]: addr(3, 2), [D]: addr(4, 1), 'hs.c.test': addr(3, 1), 'box.tor.test': addr(8, 1) } });
t.teardown(() => proxy.close());
const onion = (extra: Record<string, unknown> = {}) => ({ match: '*.onion', via: proxy.url, ...extra });

const onionQueries = () => dns.received.filter((q) => q.name.toLowerCase().endsWith('.onion'));
const queriesFor = (name: string) => dns.received.filter((q) => q.name.toLowerCase() === name).length;

/** A plain TCP listener that only counts connections: what a route must never dial. */
async function tripwire(address: string, port: number): Promise<{ connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    n++;
    sockets.add(s);
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    connections: () => n,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const version = (name: string) => (_req: unknown, res: import('node:http').ServerResponse) =>
  void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ server: { name, version: '1' } }));

// Two fedpeers known only by onion names, each routing .onion through the proxy.
const profileUser = `@alice:${B}`;
const fixtureA = await startFixture({ address: addr(1, 1), serverName: A, certNames: [A], raw: { ...outbound(), federation_routes: [onion()] } });
t.teardown(() => fixtureA.close());
let bAhead = 0;
const fixtureB = await startFixture({
  address: addr(2, 1),
  serverName: B,
  certNames: [B],
  raw: { ...outbound(), federation_routes: [onion()], test_users: { [profileUser]: { displayname: 'Alice' } } },
  // B fetches one origin's keys at most once a minute; a test moves B's clock on to let it refetch.
  now: () => Date.now() + bAhead,
});
t.teardown(() => fixtureB.close());

function outbound(): Record<string, unknown> {
  return { federation_custom_ca_list: [world.caFile], federation_dns_servers: [dns.hostPort], ip_range_whitelist: ['127.100.0.0/17'] };
}

const profile = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(profileUser)}`;

t.test('a signed request to an onion fedpeer, verified with keys fetched back through the proxy; no DNS query for any .onion name', async (t) => {
  const before = proxy.requests.length;
  const r = await fixtureA.server.peer.client.request(B, 'GET', profile);
  t.equal(r.status, 200);
  t.same(r.body, { displayname: 'Alice' });
  t.match(r.target, { address: B, port: 8448, host: B, tls_name: B, route: { index: 0, pattern: '*.onion', via: { kind: 'socks5h' } } });
  t.ok(fixtureB.server.peer.keyStore.cached(A)?.verifyKeys[fixtureA.key.keyId], 'B fetched A keys to verify the X-Matrix signature');
  const seen = proxy.requests.slice(before).map((q) => `${q.addressType} ${q.host}:${q.port} ${q.outcome}`);
  t.ok(seen.includes(`domain ${B}:443 unreachable`), 'A asked for B well-known through the proxy');
  t.ok(seen.includes(`domain ${B}:8448 connected`), 'A reached B through the proxy');
  t.ok(seen.includes(`domain ${A}:8448 connected`), 'B fetched A keys through the proxy');
  t.same(onionQueries(), [], 'no DNS query for a .onion name');
  const steps = r.resolution.steps.map((s) => `${s.step} ${s.outcome}`);
  t.same(steps, ['route found', 'well-known failed', 'srv skipped', 'address found']);
  t.match(r.resolution.steps[0]!.detail, `federation_routes[0] ("*.onion") matches ${B} (pattern "*.onion"): through SOCKS5 proxy ${proxy.url}, which resolves the name (no local DNS, no SRV)`);
  t.match(r.resolution.steps[1]!.detail, /connect:proxy-refused|SOCKS proxy .* could not connect to .*:443: connection refused/);
  t.match(r.resolution.steps[2]!.detail, /cannot resolve SRV records; port 8448/);
});

t.test('the notary fetches an onion server keys through the proxy', async (t) => {
  const keyFetches = () => fixtureA.logLines().filter((l) => l.route === '/_matrix/key/v2/server' || l.url === '/_matrix/key/v2/server').length;
  const before = keyFetches();
  // Asking for keys valid longer than the cached ones makes B refetch A's, once a minute has passed for B.
  bAhead += 61_000;
  const r = await fixtureA.server.peer.client.request(B, 'GET', `/_matrix/key/v2/query/${A}?minimum_valid_until_ts=${Date.now() + 10 * 86_400_000}`, { sign: false });
  const docs = (r.body as { server_keys: Array<{ server_name: string; signatures: Record<string, unknown> }> }).server_keys;
  t.equal(docs[0]?.server_name, A);
  t.ok(docs[0]?.signatures[B], 'B vouches for A');
  t.equal(keyFetches(), before + 1, 'B fetched A keys again (over its kept-alive tunnel: A has no other way in)');
  t.same(onionQueries(), []);
});

t.test('well-known fetched through the proxy; a delegated name keeps the proxy even though its own route is direct', async (t) => {
  const leaf = await pki.leaf([C]);
  const wk = await startHttpsServer({ address: addr(3, 2), port: 443, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"m.server":"hs.c.test:8448"}') });
  t.teardown(() => wk.close());
  const hsLeaf = await pki.leaf(['hs.c.test']);
  const hs = await startHttpsServer({ address: addr(3, 1), port: 8448, certificates: { certPem: hsLeaf.chainPem, keyPem: hsLeaf.keyPem }, handler: version('hs') });
  t.teardown(() => hs.close());
  // A trap: were hs.c.test looked up, DNS would send the request here.
  dns.set('hs.c.test', 'A', addr(3, 9));
  const trap = await tripwire(addr(3, 9), 8448);
  t.teardown(() => trap.close());
  const client = await world.client({ raw: { federation_routes: [onion(), { match: '*.test', via: 'direct' }] } });
  const r = await client.request(C, 'GET', '/_matrix/federation/v1/version', { sign: false });
  t.same(r.body, { server: { name: 'hs', version: '1' } });
  t.equal(wk.requests.length, 1, 'the well-known came through the proxy');
  t.equal(hs.requests[0]?.host, 'hs.c.test:8448');
  t.equal(queriesFor('hs.c.test'), 0, 'the delegated name was not looked up');
  t.equal(trap.connections(), 0);
  t.match(r.target, { address: 'hs.c.test', route: { index: 1, inheritedFrom: 'federation_routes[0] ("*.onion")' } });
  const route = r.resolution.steps.filter((s) => s.step === 'route');
  t.equal(route.length, 2);
  t.match(route[1]!.detail, /hs\.c\.test is reached on behalf of a name routed by federation_routes\[0\] \("\*\.onion"\): its own rule federation_routes\[1\] \("\*\.test"\) says direct, but a route never falls back to a direct connection/);
  t.same(onionQueries(), []);
});

t.test('trust per route: CA, none, pinned certificate, pinned public key, wrong pin', async (t) => {
  // A certificate no CA in the list vouches for, as onion services have.
  const leaf = await pki.leaf([D], { untrusted: true });
  const server: TestHttpsServer = await startHttpsServer({ address: addr(4, 1), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: version('d') });
  t.teardown(() => server.close());
  const dest = `${D}:8448`;
  const get = (c: FederationClient) => c.request(dest, 'GET', '/_matrix/federation/v1/version', { sign: false });
  const x509 = new X509Certificate(leaf.certPem);
  // The public key pin as the docs compute it, with openssl: an oracle independent of node's hashing.
  const spki = execFileSync('sh', ['-c', 'openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64'], { input: leaf.certPem }).toString().trim();
  const fingerprint = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: leaf.certPem }).toString().trim().replace(/^.*=/, '');
  t.equal(fingerprint, x509.fingerprint256, 'openssl prints the same fingerprint node computes');

  const ca = await world.client({ raw: { federation_routes: [onion()] } });
  t.match(await get(ca).catch((e) => e), { step: 'tls', check: 'certificate-untrusted' }, 'trust: ca refuses a certificate no listed CA issued');

  const none = await world.client({ raw: { federation_routes: [onion({ trust: 'none' })] } });
  t.equal((await get(none)).status, 200, 'trust: none accepts it');

  const byCert = await world.client({ raw: { federation_routes: [onion({ trust: 'pin', pins: [fingerprint.toLowerCase().replace(/:/g, '')] })] } });
  t.equal((await get(byCert)).status, 200, 'a certificate pin (hex without colons) matches');

  const byKey = await world.client({ raw: { federation_routes: [onion({ trust: 'pin', pins: ['sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', `sha256/${spki}`] })] } });
  const ok = await get(byKey);
  t.equal(ok.status, 200, 'the public key pin openssl computes matches');

  const served = server.requests.length;
  const wrong = await world.client({ raw: { federation_routes: [onion({ trust: 'pin', pins: ['sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='] })] } });
  const err = await get(wrong).catch((e) => e);
  t.ok(err instanceof FederationError);
  t.match(err, { step: 'tls', check: 'certificate-pin', message: new RegExp(`presented certificate SHA-256 ${x509.fingerprint256}, public key sha256/${spki.replace(/[+/]/g, '\\$&')}, which matches no pin of federation_routes\\[0\\]`) });
  t.equal(server.requests.length, served, 'no request was sent to a server whose pin did not match');
  t.ok(server.sniSeen.includes(D), 'the handshake happened, with the onion name as SNI');
  t.same(onionQueries(), []);
});

t.test('isolate: a SOCKS username of its own per destination', async (t) => {
  const client = await world.client({ raw: { federation_routes: [onion({ isolate: true })] } });
  const before = proxy.requests.length;
  await client.request(`${A}:8448`, 'GET', '/_matrix/key/v2/server', { sign: false });
  await client.request(`${B}:8448`, 'GET', '/_matrix/key/v2/server', { sign: false });
  const users = proxy.requests.slice(before).map((q) => [q.host, q.username]);
  t.same(users, [[A, A], [B, B]]);
});

t.test('fails closed: the proxy down, refusing or silent; nothing dialled directly, nothing looked up', async (t) => {
  dns.set('x.tor.test', 'A', addr(5, 1));
  const trap = await tripwire(addr(5, 1), 8448);
  t.teardown(() => trap.close());
  const down = await world.client({ raw: { federation_routes: [{ match: '*.tor.test', via: `socks5h://${addr(0, 10)}:9050` }] } });
  const err = await down.request('x.tor.test', 'GET', '/_matrix/federation/v1/version', { sign: false, timeoutMs: 3000 }).catch((e) => e);
  t.match(err, {
    step: 'connect',
    check: 'proxy-unreachable',
    message: new RegExp(`^connect: proxy-unreachable: SOCKS proxy socks5h://${addr(0, 10).replace(/\./g, '\\.')}:9050 is not reachable: connect ECONNREFUSED .*; x\\.tor\\.test:8448 was not dialled directly: federation_routes\\[0\\] \\("\\*\\.tor\\.test"\\) fails closed$`),
  });

  const refusing = await startSocksServer({ address: addr(0, 11), hosts: { 'x.tor.test': addr(5, 1) } });
  t.teardown(() => refusing.close());
  refusing.setBehaviour('refuse', 2);
  const refused = await world.client({ raw: { federation_routes: [{ match: '*.tor.test', via: refusing.url }] } });
  t.match(await refused.request('x.tor.test:8448', 'GET', '/', { sign: false }).catch((e) => e), {
    check: 'proxy-refused',
    message: /could not connect to x\.tor\.test:8448: connection not allowed by ruleset \(SOCKS reply 0x02\)/,
  });
  refusing.setBehaviour('silent');
  const silent = await refused.request('x.tor.test:8448', 'GET', '/', { sign: false, timeoutMs: 400 }).catch((e) => e);
  t.match(silent, { step: 'connect', check: /timeout/ });

  t.equal(trap.connections(), 0, 'the direct address was never dialled');
  t.equal(queriesFor('x.tor.test'), 0, 'the name was never looked up');
});

t.test('CIDR rules: IP literals through a proxy, the blocklist still applies to them, and a direct name addresses own trust', async (t) => {
  const leaf = await pki.leaf([addr(6, 1)], { untrusted: true });
  const lit = await startHttpsServer({ address: addr(6, 1), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: version('lit') });
  t.teardown(() => lit.close());
  const client = await world.client({ raw: { federation_routes: [{ match: ['127.100.6.0/24', '127.100.200.0/24'], via: proxy.url, trust: 'none' }, { match: '127.100.7.0/24', trust: 'none' }] } });
  const before = proxy.requests.length;
  const r = await client.request(`${addr(6, 1)}:8448`, 'GET', '/', { sign: false });
  t.same(r.body, { server: { name: 'lit', version: '1' } });
  t.match(proxy.requests[before], { addressType: 'ipv4', host: addr(6, 1), port: 8448 });

  const blocked = await client.request('127.100.200.1:8448', 'GET', '/', { sign: false }).catch((e) => e);
  t.match(blocked, { step: 'blocklist', check: 'ip_range_blacklist' }, 'an IP literal outside ip_range_whitelist is refused even through a proxy');
  t.equal(proxy.requests.length, before + 1, '... before the proxy is asked');

  // A direct name whose address falls in a CIDR rule takes that rule's trust.
  const cidrLeaf = await pki.leaf(['cidr.test'], { untrusted: true });
  const byAddress = await startHttpsServer({ address: addr(7, 1), port: 8448, certificates: { certPem: cidrLeaf.chainPem, keyPem: cidrLeaf.keyPem }, handler: version('cidr') });
  t.teardown(() => byAddress.close());
  dns.set('cidr.test', 'A', addr(7, 1));
  const viaRule = await client.request('cidr.test:8448', 'GET', '/', { sign: false });
  t.match(viaRule.target, { address: addr(7, 1), route: { index: 1, pattern: '127.100.7.0/24' } });
  t.ok(viaRule.resolution.steps.some((s) => s.step === 'route' && s.lookup === addr(7, 1) && /federation_routes\[1\] \("127\.100\.7\.0\/24"\) matches 127\.100\.7\.1 .*: direct; certificate not verified/.test(s.detail)));
  const plain = await world.client();
  t.match(await plain.request('cidr.test:8448', 'GET', '/', { sign: false }).catch((e) => e), { check: 'certificate-untrusted' }, 'without the rule the certificate is refused');
  // A pin on a direct route: the connection is made by the pinning path, without a proxy.
  const pin = new X509Certificate(cidrLeaf.certPem).fingerprint256;
  const pinned = await world.client({ raw: { federation_routes: [{ match: '127.100.7.0/24', trust: 'pin', pins: [pin] }] } });
  const asked = proxy.requests.length;
  t.same((await pinned.request('cidr.test:8448', 'GET', '/', { sign: false })).body, { server: { name: 'cidr', version: '1' } });
  const again = await pinned.request('cidr.test:8448', 'GET', '/', { sign: false });
  t.equal(again.status, 200, 'the pinned connection is kept alive and reused');
  t.equal(proxy.requests.length, asked, 'no proxy involved');
  t.match(await pinned.request('cidr.test:8449', 'GET', '/', { sign: false }).catch((e) => e), { step: 'connect', check: 'ECONNREFUSED' });
});

t.test('an SRV target routed through the proxy is not looked up; an onion SRV target without a route is skipped', async (t) => {
  const leaf = await pki.leaf(['srv.test']);
  const box = await startHttpsServer({ address: addr(8, 1), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: version('box') });
  t.teardown(() => box.close());
  dns.set('_matrix-fed._tcp.srv.test', 'SRV', { priority: 1, weight: 1, port: 8448, target: 'box.tor.test' });
  const client = await world.client({ raw: { federation_routes: [{ match: '*.tor.test', via: proxy.url }] } });
  const r = await client.request('srv.test', 'GET', '/', { sign: false });
  t.same(r.body, { server: { name: 'box', version: '1' } });
  t.match(r.target, { address: 'box.tor.test', tls_name: 'srv.test', host: 'srv.test' });
  t.equal(queriesFor('box.tor.test'), 0);
  t.ok(r.resolution.steps.some((s) => s.step === 'srv-target' && s.lookup === 'box.tor.test' && /through SOCKS5 proxy/.test(s.detail)));

  dns.set('_matrix-fed._tcp.ghost.test', 'SRV', { priority: 1, weight: 1, port: 8448, target: 'ghost.onion' });
  const err = await client.request('ghost.test', 'GET', '/', { sign: false }).catch((e) => e);
  t.match(err, { step: 'srv', check: 'no-target-address' });
  t.match(err.steps, [{}, {}, { step: 'srv' }, { step: 'srv-target', lookup: 'ghost.onion AAAA/A', outcome: 'failed', detail: /Tor onion service.*target skipped/ }]);
  t.same(onionQueries(), []);
});

t.test('a .onion name without a route fails before any DNS query, with the fix', async (t) => {
  const client = await world.client();
  const err = await client.request(A, 'GET', '/', { sign: false }).catch((e) => e);
  t.match(err, { step: 'route', check: 'onion-no-route', serverName: A, message: /never looked up in DNS \(RFC 7686\).*add a SOCKS route such as federation_routes/ });
  t.match(err.steps, [{ step: 'route', lookup: A, outcome: 'failed' }]);
  const viaWellKnown = await client.request(`${A}:8448`, 'GET', '/', { sign: false }).catch((e) => e);
  t.match(viaWellKnown, { check: 'onion-no-route' });
  // A name that explicitly routes .onion directly (Tor's DNSPort with AutomapHostsOnResolve) is looked up.
  const automap = await world.client({ raw: { federation_routes: [{ match: '*.onion', via: 'direct' }] } });
  const before = onionQueries().length;
  t.match(await automap.request(`${A}:8448`, 'GET', '/', { sign: false }).catch((e) => e), { step: 'dns' });
  t.ok(onionQueries().length > before, 'an explicit direct rule hands the name to DNS');
  dns.resetCounts();
});

// The commands, as a user runs them.
const errors = (r: CheckReport) => r.findings.filter((f) => f.severity === 'error').map((f) => f.code);

function capture(): CommandIO & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += `${s}\n`), stderr: (s: string) => void (io.err += `${s}\n`), readStdin: async () => '' };
  return io;
}

t.test('fedpeer resolve, keys, request and check take the same routes', async (t) => {
  const cfg = join(world.dir, 'onion.yaml');
  writeFileSync(join(world.dir, 'a.key'), `ed25519 ${fixtureA.key.version} ${fixtureA.key.seed.toString('base64').replace(/=+$/, '')}\n`);
  writeFileSync(
    cfg,
    `server_name: ${A}\nsigning_key_path: a.key\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_dns_servers: ['${dns.hostPort}']\n` +
      `ip_range_whitelist: ['127.100.0.0/17']\nfederation_routes:\n  - match: "*.onion"\n    via: ${proxy.url}\n`,
  );
  let io = capture();
  t.equal(await main(['resolve', B, '--config', cfg, '--json'], io), 0);
  const resolved = JSON.parse(io.out);
  t.same(resolved.targets, [{ address: B, port: 8448, host: B, tls_name: B, route: { rule: 'federation_routes[0] ("*.onion")', pattern: '*.onion', via: proxy.url, trust: 'ca', isolate: false, inherited_from: null } }]);
  t.equal(resolved.steps[0].step, 'route');
  io = capture();
  t.equal(await main(['resolve', B, '--config', cfg], io), 0);
  t.match(io.out, new RegExp(`1\\. ${B.replace(/\./g, '\\.')}:8448 .* through ${proxy.url.replace(/[./]/g, '\\$&')} \\(federation_routes\\[0\\] \\("\\*\\.onion"\\), trust: ca\\)`));
  t.match(io.out, /route: .*: found\n\s+federation_routes\[0\]/);

  io = capture();
  t.equal(await main(['keys', B, '--config', cfg], io), 0);
  t.match(io.out, new RegExp(`${fixtureB.key.keyId} ${fixtureB.key.publicKeyBase64.replace(/[+/]/g, '\\$&')}`));

  io = capture();
  t.equal(await main(['request', '--config', cfg, B, profile], io), 0);
  t.same(JSON.parse(io.out), { displayname: 'Alice' });

  io = capture();
  t.equal(await main(['check', B, '--config', cfg, '--json'], io), 0);
  const report = JSON.parse(io.out) as CheckReport;
  t.equal(report.federation_ok, true);
  t.match(report.targets[0], { address: B, route: { via: proxy.url }, tcp: { ok: true }, tls: { accepted: true, chain: [{ public_key_sha256: /^sha256\// }] }, keys: { ok: true } });
  t.same(report.srv, [], 'no SRV lookup for a proxied name');
  io = capture();
  t.equal(await main(['check', B, '--config', cfg], io), 0);
  t.match(io.out, /route {5}federation_routes\[0\] \("\*\.onion"\): through SOCKS proxy/);
  t.match(io.out, /public key sha256\//);
  t.same(onionQueries(), []);
});

t.test('fedpeer check explains what a route changes: no route for .onion, proxy down, pin mismatch', async (t) => {
  const plain = join(world.dir, 'plain.yaml');
  writeFileSync(plain, `server_name: me.test\nsigning_key_path: unused.key\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_dns_servers: ['${dns.hostPort}']\nip_range_whitelist: ['127.100.0.0/17']\n`);
  let io = capture();
  t.equal(await main(['check', B, '--config', plain, '--json'], io), 1);
  let report = JSON.parse(io.out) as CheckReport;
  t.same(report.findings.map((f) => f.code), ['ONION_NO_ROUTE']);
  t.match(report.findings[0]!.fix, /federation_routes: \[\{match: "\*\.onion", via: "socks5h:\/\/127\.0\.0\.1:9050"/);
  t.match(report.client_well_known, { outcome: 'failed', error: /onion-no-route/ });
  io = capture();
  t.equal(await main(['check', B, '--config', plain], io), 1);
  t.match(io.out, /ONION_NO_ROUTE/);

  const down = join(world.dir, 'down.yaml');
  writeFileSync(down, `server_name: me.test\nsigning_key_path: unused.key\nfederation_dns_servers: ['${dns.hostPort}']\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_routes: [{match: "*.onion", via: "socks5h://${addr(0, 10)}:9050"}]\n`);
  io = capture();
  t.equal(await main(['check', `${B}:8448`, '--config', down, '--json'], io), 1);
  report = JSON.parse(io.out) as CheckReport;
  t.same(errors(report), ['PROXY_FAILED']);
  t.match(report.findings[0], { explanation: /is not reachable: connect ECONNREFUSED.*never falls back to a direct connection/, fix: /systemctl start tor/ });

  const pinned = join(world.dir, 'pinned.yaml');
  writeFileSync(pinned, `server_name: me.test\nsigning_key_path: unused.key\nfederation_dns_servers: ['${dns.hostPort}']\nfederation_routes: [{match: "*.onion", via: "${proxy.url}", trust: pin, pins: ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}]\n`);
  io = capture();
  t.equal(await main(['check', `${B}:8448`, '--config', pinned, '--json'], io), 1);
  report = JSON.parse(io.out) as CheckReport;
  t.same(errors(report), ['CERT_PIN_MISMATCH']);
  t.match(report.targets[0]!.tls, { verification: 'pinned', pin_ok: false, accepted: false });
  const key = report.targets[0]!.tls!.chain[0]!.public_key_sha256;
  t.match(report.findings[0]!.fix, key);
  io = capture();
  t.equal(await main(['check', `${B}:8448`, '--config', pinned], io), 1);
  t.match(io.out, /pinned by federation_routes\[0\] \("\*\.onion"\): NO pin matches/);

  // With that pin, the check passes.
  writeFileSync(pinned, `server_name: me.test\nsigning_key_path: unused.key\nfederation_dns_servers: ['${dns.hostPort}']\nfederation_routes: [{match: "*.onion", via: "${proxy.url}", trust: pin, pins: ["${key}"]}]\n`);
  io = capture();
  t.equal(await main(['check', B, '--config', pinned, '--json'], io), 0);
  t.match(JSON.parse(io.out).targets[0].tls, { verification: 'pinned', pin_ok: true, accepted: true });
  t.same(onionQueries(), []);
});

t.test('--allow-private beside federation_routes: the blocklist is lifted for this run, the routes still decide the way', async (t) => {
  const leaf = await pki.leaf(['near.test']);
  const near = await startHttpsServer({ address: addr(9, 1), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: version('near') });
  t.teardown(() => near.close());
  dns.set('near.test', 'A', addr(9, 1));
  // No ip_range_whitelist: loopback is blocked unless --allow-private says otherwise.
  const cfg = join(world.dir, 'private.yaml');
  writeFileSync(
    cfg,
    `server_name: me.test\nsigning_key_path: unused.key\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_dns_servers: ['${dns.hostPort}']\n` +
      `federation_routes:\n  - {match: "*.onion", via: "${proxy.url}"}\n  - {match: "127.100.200.0/24", via: "${proxy.url}"}\n`,
  );
  const versionPath = '/_matrix/federation/v1/version';
  let io = capture();
  t.equal(await main(['request', '--unsigned', '--config', cfg, 'near.test:8448', versionPath], io), 1);
  t.match(io.err, /ip_range_blacklist/, 'without the flag a loopback address is refused');
  io = capture();
  t.equal(await main(['request', '--unsigned', '--config', cfg, '--allow-private', 'near.test:8448', versionPath], io), 0, io.err);
  t.same(JSON.parse(io.out), { server: { name: 'near', version: '1' } });

  // A loopback IP literal that a rule sends through the proxy: allowed now, and still through the proxy.
  const before = proxy.requests.length;
  io = capture();
  t.equal(await main(['request', '--unsigned', '--config', cfg, '--allow-private', '127.100.200.1:8448', versionPath], io), 1);
  t.match(proxy.requests.slice(before), [{ addressType: 'ipv4', host: '127.100.200.1', port: 8448 }], 'handed to the proxy, not dialled directly');

  // An onion name: through the proxy with or without the flag, never looked up; check and resolve show the route.
  io = capture();
  t.equal(await main(['check', B, '--config', cfg, '--allow-private', '--json'], io), 0, io.err);
  const report = JSON.parse(io.out) as CheckReport;
  t.equal(report.federation_ok, true);
  t.match(report.targets[0], { address: B, route: { rule: 'federation_routes[0] ("*.onion")', via: proxy.url } });
  io = capture();
  t.equal(await main(['resolve', B, '--config', cfg, '--allow-private'], io), 0);
  t.match(io.out, /through socks5h:\/\/\S+ \(federation_routes\[0\] \("\*\.onion"\), trust: ca\)/);
  t.same(onionQueries(), []);
});
