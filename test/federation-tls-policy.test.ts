// Trust for outbound connections, against real TLS servers on 127.23.x.y:
// certificates refused before any request is sent, the whitelist (globs and
// CIDRs), custom CA lists (replace and append), the minimum TLS version and
// the address blocklist.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createHttps } from 'node:https';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { createAddressPolicy, embeddedIPv4 } from '../src/federation/ip-blocklist.js';
import { globToRegExp, readCustomCas, systemCaCertificates } from '../src/federation/tls-policy.js';
import { DEFAULT_IP_RANGE_BLACKLIST } from '../src/config/defaults.js';
import type { LeafOptions } from './harness/test-ca.js';

const world = await federationWorld('tls-policy');
const { dns, pki, addr } = world;
t.teardown(() => world.close());
const servers: TestHttpsServer[] = [];
t.teardown(() => Promise.all(servers.map((s) => s.close())));

/** A server at 127.23.c.d:8448 presenting a certificate for `certNames`; `name` resolves to it. */
async function peer(name: string, c: number, d: number, certNames: string[], opts: LeafOptions = {}): Promise<TestHttpsServer> {
  const leaf = await pki.leaf(certNames, opts);
  const server = await startHttpsServer({ address: addr(c, d), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem } });
  servers.push(server);
  dns.set(name, 'A', addr(c, d));
  return server;
}

const strict = await world.client();
const get = (client: typeof strict, name: string) => client.request(name, 'GET', '/_matrix/federation/v1/version');

t.test('a valid chain (via an intermediate): SNI and Host are the server name', async (t) => {
  const s = await peer('good.test', 1, 1, ['good.test'], { viaIntermediate: true });
  const r = await get(strict, 'good.test:8448');
  t.equal(r.status, 200);
  t.match(r.body, { host: 'good.test:8448', sni: 'good.test' });
  t.match(s.requests, [{ host: 'good.test:8448', sni: 'good.test' }]);
});

t.test('bad certificates are refused before any request is sent', async (t) => {
  const cases: Array<[string, number, string[], LeafOptions, string]> = [
    ['wrongname.test', 2, ['other.test'], {}, 'certificate-name'],
    ['expired.test', 3, ['expired.test'], { expired: true }, 'certificate-expired'],
    ['early.test', 4, ['early.test'], { notYetValid: true }, 'certificate-not-yet-valid'],
    ['untrusted.test', 5, ['untrusted.test'], { untrusted: true }, 'certificate-untrusted'],
    ['untrustedchain.test', 6, ['untrustedchain.test'], { untrusted: true, viaIntermediate: true }, 'certificate-untrusted'],
  ];
  for (const [name, d, certNames, opts, check] of cases) {
    const s = await peer(name, 2, d, certNames, opts);
    const err = await get(strict, `${name}:8448`).catch((e: unknown) => e);
    t.match(err, { name: 'FederationError', step: 'tls', check }, name);
    t.equal(s.requests.length, 0, `${name}: no request reached the server`);
    t.same(s.sniSeen, [name], `${name}: the handshake asked for ${name}`);
  }
});

t.test('IP literals: certificate for the IP address, no SNI', async (t) => {
  const s = await peer('unused-ip.test', 3, 1, [addr(3, 1)]);
  const r = await get(strict, `${addr(3, 1)}:8448`);
  t.match(r.body, { host: `${addr(3, 1)}:8448`, sni: null });
  t.same(s.sniSeen, []);
  await peer('unused-ip2.test', 3, 2, ['named-only.test']);
  await t.rejects(get(strict, `${addr(3, 2)}:8448`), { name: 'FederationError', step: 'tls', check: 'certificate-name' });
});

t.test('whitelist: globs on the name (case-insensitive, * spans dots), CIDRs on the address', async (t) => {
  const lax = await world.client({ raw: { federation_certificate_verification_whitelist: ['*.LAX.test', 'h?.q.test', '127.23.7.0/24'] } });
  await peer('a.b.lax.test', 4, 1, ['nothing-matches.test'], { untrusted: true });
  await peer('hx.q.test', 4, 2, ['nothing.test'], { expired: true });
  await peer('hxx.q.test', 4, 3, ['nothing.test'], { expired: true });
  await peer('cidr.test', 7, 1, ['nothing.test'], { untrusted: true });
  t.equal((await get(lax, 'a.b.lax.test:8448')).status, 200);
  const r = await get(lax, 'hx.q.test:8448');
  t.match(r.body, { sni: 'hx.q.test' }, 'SNI still sent without verification, as Synapse does');
  await t.rejects(get(lax, 'hxx.q.test:8448'), { name: 'FederationError', step: 'tls', check: 'certificate-expired' }, '? is exactly one character');
  t.equal((await get(lax, 'cidr.test:8448')).status, 200, 'address in a whitelisted CIDR');
  await t.rejects(get(strict, 'cidr.test:8448'), { name: 'FederationError', check: 'certificate-untrusted' });
  t.match(lax.tls.describe(), /not verified for \*\.LAX\.test/);
  t.match(lax.tls.forConnection('x.lax.test', addr(1, 1)), { verify: false, exemptBy: /\*\.LAX\.test/ });
});

t.test('federation_verify_certificates: false accepts anything', async (t) => {
  const off = await world.client({ raw: { federation_verify_certificates: false } });
  await peer('anything.test', 4, 4, ['else.test'], { untrusted: true, expired: true });
  t.equal((await get(off, 'anything.test:8448')).status, 200);
  t.match(off.tls.describe(), /not verified/);
});

t.test('custom CAs replace the system store, or add to it in append mode', async (t) => {
  // The "system store" here is the untrusted root, so the two modes differ visibly.
  const systemCas = [pki.untrustedRoot.certPem];
  await peer('sys.test', 5, 1, ['sys.test'], { untrusted: true });
  await peer('custom.test', 5, 2, ['custom.test']);
  const replace = await world.client({ systemCas });
  const append = await world.client({ systemCas, raw: { federation_custom_ca_mode: 'append' } });
  const systemOnly = await world.client({ systemCas, raw: { federation_custom_ca_list: null } });
  await t.rejects(get(replace, 'sys.test:8448'), { name: 'FederationError', check: 'certificate-untrusted' });
  t.equal((await get(replace, 'custom.test:8448')).status, 200);
  t.equal((await get(append, 'sys.test:8448')).status, 200);
  t.equal((await get(append, 'custom.test:8448')).status, 200);
  t.equal((await get(systemOnly, 'sys.test:8448')).status, 200);
  await t.rejects(get(systemOnly, 'custom.test:8448'), { name: 'FederationError', check: 'certificate-untrusted' });
  t.match(append.tls.describe(), /plus 1 from federation_custom_ca_list/);
  t.match(replace.tls.describe(), /system store not used/);
  t.match(systemOnly.tls.describe(), /system CA store \(1 certificates\)/);

  const bundle = join(world.dir, 'bundle.pem');
  writeFileSync(bundle, `# a comment\n${pki.root.certPem}\n${pki.untrustedRoot.certPem}`);
  const both = await world.client({ raw: { federation_custom_ca_list: [bundle] } });
  t.equal((await get(both, 'sys.test:8448')).status, 200, 'a bundle file with several certificates');
  t.equal((await get(both, 'custom.test:8448')).status, 200);
});

t.test('custom CA files that cannot be used are config errors naming the key', async (t) => {
  const empty = join(world.dir, 'empty.pem');
  writeFileSync(empty, 'nothing here');
  const broken = join(world.dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await t.rejects(readCustomCas([join(world.dir, 'missing.pem')]), { name: 'ConfigError', message: /federation_custom_ca_list\[0\]: cannot read .*ENOENT/ });
  await t.rejects(readCustomCas([world.caFile, empty]), { message: /federation_custom_ca_list\[1\]: .* holds no PEM certificate/ });
  await t.rejects(readCustomCas([broken]), { message: /certificate 1 does not parse/ });
  t.ok(systemCaCertificates().length > 0, 'a system store is found');
});

t.test('federation_client_minimum_tls_version', async (t) => {
  const leaf = await pki.leaf(['tls12.test']);
  const server = createHttps({ cert: leaf.chainPem, key: leaf.keyPem, maxVersion: 'TLSv1.2' }, (_req, res) => res.end('{}'));
  await new Promise<void>((r) => server.listen(8448, addr(6, 1), r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  dns.set('tls12.test', 'A', addr(6, 1));
  t.equal((await get(strict, 'tls12.test:8448')).status, 200, '1.2 accepted by default');
  const v13 = await world.client({ raw: { federation_client_minimum_tls_version: '1.3' } });
  await t.rejects(get(v13, 'tls12.test:8448'), { name: 'FederationError', step: 'tls', check: 'protocol-version' });
});

t.test('blocked ranges are refused at dial time, with IPv4 inside IPv6 covered', async (t) => {
  await t.rejects(get(strict, '127.23.200.1:8448'), { name: 'FederationError', step: 'blocklist', check: 'ip_range_blacklist' });
  await t.rejects(get(strict, '[::ffff:127.23.200.1]:8448'), { name: 'FederationError', step: 'blocklist' });
  const policy = createAddressPolicy([...DEFAULT_IP_RANGE_BLACKLIST, '0.0.0.0/32', '::/128'], ['127.23.0.0/17']);
  const blocked = (a: string) => policy.check(a).blocked;
  t.ok(blocked('10.1.2.3'));
  t.ok(blocked('::ffff:10.1.2.3'), 'IPv4-mapped');
  t.ok(blocked('::ffff:a01:203'), 'IPv4-mapped, hex form');
  t.ok(blocked('::10.1.2.3'), 'IPv4-compatible');
  t.ok(blocked('2002:0a01:0203::1'), '6to4 of 10.1.2.3');
  t.ok(blocked('fd00::1'));
  t.ok(blocked('::1'));
  t.ok(blocked('::'));
  t.ok(blocked('0.0.0.0'));
  t.ok(blocked('not-an-ip'));
  t.notOk(blocked('8.8.8.8'));
  t.notOk(blocked('2001:4860::8888'));
  t.notOk(blocked('127.23.1.1'), 'whitelisted');
  t.notOk(blocked('::ffff:127.23.1.1'), 'whitelisted through the mapped form too');
  t.same(policy.check('127.23.1.1'), { blocked: false, rule: '127.23.0.0/17', list: 'ip_range_whitelist' });
  t.same(policy.check('192.168.1.1'), { blocked: true, rule: '192.168.0.0/16', list: 'ip_range_blacklist' });
  t.same(embeddedIPv4('::1'), []);
  t.same(embeddedIPv4('2002:c0a8:101::'), ['192.168.1.1']);
  t.same(embeddedIPv4('1.2.3.4'), []);
});

t.test('globs: Synapse semantics', async (t) => {
  t.ok(globToRegExp('*.onion').test('abc.def.onion'));
  t.ok(globToRegExp('*.onion').test('X.ONION'));
  t.notOk(globToRegExp('*.onion').test('onion'));
  t.ok(globToRegExp('a?c.test').test('abc.test'));
  t.notOk(globToRegExp('a?c.test').test('ac.test'));
  t.ok(globToRegExp('*?*').test('x'));
  t.notOk(globToRegExp('*?*').test(''));
  t.ok(globToRegExp('exact.test').test('EXACT.test'));
  t.notOk(globToRegExp('exact.test').test('exactXtest'), 'dots are literal');
});
