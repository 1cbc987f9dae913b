// `fedpeer check` on the private internet (127.50.x.y): real DNS, real TLS
// with the test CA, real fedpeers and hand-made servers for the broken
// cases. Each case runs the command as a user would (through the CLI entry
// point, --json) and asserts the finding codes and the exit status.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import type { CheckReport } from '../src/check/types.js';
import { signJson } from '../src/matrix/signing.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { issueCertificate } from '../src/server/dev-ca.js';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestServer } from './harness/https-server.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';

const world = await federationWorld('check');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const cfg = join(world.dir, 'homeserver.yaml');
writeFileSync(
  cfg,
  `server_name: me.test\nsigning_key_path: unused.key\nfederation_custom_ca_list: ['${world.caFile}']\n` +
    `federation_dns_servers: ['${dns.hostPort}']\nip_range_whitelist: ['127.50.0.0/17']\n`,
);

function capture(): CommandIO & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += `${s}\n`), stderr: (s: string) => void (io.err += `${s}\n`), readStdin: async () => '' };
  return io;
}

async function check(name: string, extra: string[] = []): Promise<{ code: number; report: CheckReport; codes: string[] }> {
  const io = capture();
  const code = await main(['check', name, '--json', '--config', cfg, ...extra], io);
  if (io.err !== '') throw new Error(`stderr: ${io.err}`);
  const report = JSON.parse(io.out) as CheckReport;
  return { code, report, codes: report.findings.map((f) => f.code) };
}

async function checkText(name: string): Promise<{ code: number; out: string }> {
  const io = capture();
  const code = await main(['check', name, '--config', cfg], io);
  return { code, out: io.out };
}

const fixtures: Fixture[] = [];
const servers: TestServer[] = [];
t.teardown(async () => {
  for (const f of fixtures) await f.close();
  for (const s of servers) await s.close();
});
async function fixture(address: string, serverName: string, certNames: string[]): Promise<Fixture> {
  const f = await startFixture({ address, serverName, certNames });
  fixtures.push(f);
  return f;
}

/** A fedpeer for `serverName` at 127.50.c.1:8448, found through an SRV record of `service` naming `target`. */
async function behindSrv(service: '_matrix-fed._tcp' | '_matrix._tcp', serverName: string, target: string, c: number, certNames: string[]): Promise<void> {
  dns.set(`${service}.${serverName}`, 'SRV', { priority: 10, weight: 5, port: 8448, target });
  dns.set(target, 'A', addr(c, 1));
  await fixture(addr(c, 1), serverName, certNames);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void =>
  void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));

/** A homeserver stand-in serving a key document `doc(serverName)` built by the test. */
function keyServer(doc: () => Record<string, unknown>): Handler {
  return (req, res) => {
    if (req.url === '/_matrix/federation/v1/version') return json(res, 200, { server: { name: 'stand-in', version: '1' } });
    if (req.url === '/_matrix/key/v2/server') return json(res, 200, doc());
    json(res, 404, { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  };
}
const key = generateSigningKey('k1');
const keyDoc = (serverName: string, validUntil = Date.now() + 86_400_000) =>
  signJson({ server_name: serverName, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 } }, old_verify_keys: {}, valid_until_ts: validUntil }, serverName, key);

async function https(address: string, port: number, cert: { chainPem?: string; certPem: string; keyPem: string }, handler: Handler): Promise<TestServer> {
  const s = await startHttpsServer({ address, port, certificates: { certPem: cert.chainPem ?? cert.certPem, keyPem: cert.keyPem }, handler });
  servers.push(s);
  return s;
}

// One web server on 127.50.1.1:443 for every domain's well-known files, by Host.
const wellKnown: Record<string, Handler> = {};
const wkLeaf = await pki.leaf(['good-wk.test', 'wkmix.test', 'redirect.test', 'badwk.test', 'wk500.test', 'client.test']);
await https(addr(1, 1), 443, wkLeaf, (req, res) => {
  const handler = wellKnown[req.headers.host ?? ''];
  if (handler) return handler(req, res);
  json(res, 404, { errcode: 'M_NOT_FOUND' });
});

// good-wk.test: delegated by well-known to hs.good-wk.test, a fedpeer with that certificate.
dns.set('good-wk.test', 'A', addr(1, 1));
dns.set('hs.good-wk.test', 'A', addr(1, 2));
await fixture(addr(1, 2), 'good-wk.test', ['hs.good-wk.test']);
wellKnown['good-wk.test'] = (req, res) => {
  if (req.url === '/.well-known/matrix/server') return json(res, 200, { 'm.server': 'hs.good-wk.test' }, { 'cache-control': 'max-age=3600' });
  if (req.url === '/.well-known/matrix/client') return json(res, 200, { 'm.homeserver': { base_url: 'https://hs.good-wk.test:8448' } }, { 'access-control-allow-origin': '*' });
  json(res, 404, {});
};

t.test('fine via well-known: federation_ok, exit 0, only information', async (t) => {
  const { code, report, codes } = await check('good-wk.test');
  t.equal(code, 0);
  t.equal(report.federation_ok, true);
  t.match(report.verdict, /^Federation with good-wk\.test works\.$/);
  t.same(codes, ['NO_SCT']);
  t.equal(report.resolution.delegated_server, 'hs.good-wk.test');
  t.equal(report.resolution.route, 'default-port');
  t.match(report.well_known, { outcome: 'found', m_server: 'hs.good-wk.test', cache_seconds: 3600, header_cache_seconds: 3600, responses: [{ status: 200 }] });
  t.same(report.srv.map((s) => [s.name, s.outcome]), [['_matrix-fed._tcp.hs.good-wk.test', 'none'], ['_matrix._tcp.hs.good-wk.test', 'none']]);
  const [target] = report.targets;
  t.match(target, {
    address: addr(1, 2),
    port: 8448,
    host: 'hs.good-wk.test',
    tls_name: 'hs.good-wk.test',
    sni: 'hs.good-wk.test',
    tcp: { ok: true },
    tls: { ok: true, protocol: 'TLSv1.3', trusted: true, name_valid: true, verification: 'strict', accepted: true },
    version: { ok: true, status: 200, server: { name: 'fedpeer' } },
    keys: { ok: true, status: 200 },
  });
  t.same(target!.keys!.checks.map((c) => c.check), ['json_object', 'server_name', 'verify_keys', 'old_verify_keys', 'valid_until_ts', 'self_signature']);
  const [leaf, root] = target!.tls!.chain;
  t.match(leaf, { subject_alt_names: ['DNS:hs.good-wk.test'], sct: false, sha256: /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/ });
  t.ok(leaf!.days_left > 28 && leaf!.days_left < 31, 'the test leaf lasts 30 days');
  t.match(root, { subject: /fedpeer test root/ }, 'the chain ends at the trusted root');
  t.match(report.client_well_known, { outcome: 'found', status: 200, cors: '*', base_url: 'https://hs.good-wk.test:8448', base_url_check: { ok: true, status: 404 } });

  const text = await checkText('good-wk.test');
  t.equal(text.code, 0);
  t.match(text.out, /^fedpeer check good-wk\.test: OK\nFederation with good-wk\.test works\.\n/);
  t.match(text.out, /Route: default-port, delegated to hs\.good-wk\.test/);
  t.match(text.out, /cached 3600 s \(headers asked for 3600 s\)/);
  t.match(text.out, /TLS {7}TLSv1\.3, \S+; chain trusted; valid for hs\.good-wk\.test; accepted/);
  t.match(text.out, /version {3}200 fedpeer /);
  t.match(text.out, /keys {6}ok: ed25519:/);
  t.match(text.out, /✓ self_signature: signed by ed25519:/);
  t.match(text.out, /Access-Control-Allow-Origin: \*\n {2}m\.homeserver\.base_url https:\/\/hs\.good-wk\.test:8448\n {2}https:\/\/hs\.good-wk\.test:8448\/_matrix\/client\/versions: reachable \(404\)/);
});

t.test('fine via _matrix-fed SRV', async (t) => {
  await behindSrv('_matrix-fed._tcp', 'good-srv.test', 'box.good-srv.test', 2, ['good-srv.test']);
  const { code, report, codes } = await check('good-srv.test');
  t.equal(code, 0);
  t.equal(report.federation_ok, true);
  t.same(codes, ['NO_SCT', 'CLIENT_WELL_KNOWN_UNREACHABLE']);
  t.equal(report.resolution.route, 'srv');
  t.match(report.srv, [{ service: '_matrix-fed._tcp', outcome: 'found', used: true, records: [{ port: 8448, target: 'box.good-srv.test' }] }, { service: '_matrix._tcp', outcome: 'none', used: false }]);
  t.match(report.targets, [{ address: addr(2, 1), tls_name: 'good-srv.test', srv_target: 'box.good-srv.test', keys: { ok: true } }]);
  t.match(report.well_known, { outcome: 'failed', check: 'dns' });
});

t.test('SRV mix-up: the certificate of the SRV target, not of the server name (the issue example)', async (t) => {
  await behindSrv('_matrix._tcp', 'example.test', 'hs.example.test', 3, ['hs.example.test']);
  const { code, report, codes } = await check('example.test');
  t.equal(code, 1);
  t.equal(report.federation_ok, false);
  t.same(codes.filter((c) => c !== 'CLIENT_WELL_KNOWN_UNREACHABLE'), ['CERT_NAME_MISMATCH_SRV', 'DEPRECATED_MATRIX_SRV', 'NO_SCT']);
  const f = report.findings[0]!;
  t.equal(f.severity, 'error');
  t.same(f.targets, [`${addr(3, 1)}:8448`]);
  t.match(f.explanation, 'Reached through _matrix._tcp.example.test -> hs.example.test:8448, the certificate must be valid for example.test (the server name) but is valid only for hs.example.test.');
  t.match(f.fix, 'Serve a certificate for example.test there (SNI), or publish /.well-known/matrix/server {"m.server":"hs.example.test:8448"} instead.');
  t.match(report.targets[0], { tls: { trusted: true, name_valid: false, accepted: false }, version: null, keys: null }, 'nothing is sent over a refused certificate');
  t.match(report.findings.find((x) => x.code === 'DEPRECATED_MATRIX_SRV')!.fix, 'Publish the same records as _matrix-fed._tcp.example.test ("_matrix-fed._tcp.example.test. IN SRV 10 5 8448 hs.example.test."), and keep _matrix._tcp.example.test meanwhile');

  const text = await checkText('example.test');
  t.equal(text.code, 1);
  t.match(text.out, /^fedpeer check example\.test: FAIL\nFederation with example\.test fails: The certificate is for the SRV target hs\.example\.test/);
  t.match(text.out, /✗ ERROR {3}CERT_NAME_MISMATCH_SRV {2}at 127\.50\.3\.1:8448/);
  t.match(text.out, /Fix: Serve a certificate for example\.test there \(SNI\), or publish \/\.well-known\/matrix\/server\n?\s*\{"m\.server":"hs\.example\.test:8448"\} instead\./);
  t.match(text.out, /NOT valid for example\.test; REFUSED/);
  t.match(text.out, /version {3}not asked: the certificate was refused/);
});

t.test('delegation mix-up: the certificate of the delegating domain, not of the delegated name', async (t) => {
  dns.set('wkmix.test', 'A', addr(1, 1));
  dns.set('hs.wkmix.test', 'A', addr(4, 1));
  wellKnown['wkmix.test'] = (req, res) => (req.url === '/.well-known/matrix/server' ? json(res, 200, { 'm.server': 'hs.wkmix.test' }) : json(res, 404, {}));
  await fixture(addr(4, 1), 'wkmix.test', ['wkmix.test']);
  const { code, report, codes } = await check('wkmix.test');
  t.equal(code, 1);
  t.same(codes, ['CERT_NAME_MISMATCH_DELEGATED', 'NO_SCT', 'CLIENT_WELL_KNOWN_MISSING']);
  const f = report.findings[0]!;
  t.match(f.explanation, 'Reached through https://wkmix.test/.well-known/matrix/server {"m.server":"hs.wkmix.test"}, the certificate must be valid for hs.wkmix.test (the delegated name) but is valid only for wkmix.test.');
  t.match(f.fix, 'Serve a certificate for hs.wkmix.test there (SNI), or remove the well-known delegation and publish an SRV record _matrix-fed._tcp.wkmix.test -> hs.wkmix.test:8448 instead.');
  t.match(report.well_known, { cache_seconds: Number, header_cache_seconds: null });
});

t.test('expired certificate', async (t) => {
  const leaf = await pki.leaf(['expired.test'], { expired: true });
  await https(addr(5, 1), 8448, leaf, keyServer(() => keyDoc('expired.test')));
  dns.set('expired.test', 'A', addr(5, 1));
  const { code, report, codes } = await check('expired.test');
  t.equal(code, 1);
  t.same(codes.filter((c) => c.startsWith('CERT') || c.startsWith('KEY')), ['CERT_EXPIRED']);
  t.match(report.targets[0], { tls: { trusted: false, trust_error: 'CERT_HAS_EXPIRED', name_valid: true, accepted: false } });
  t.ok(report.targets[0]!.tls!.chain[0]!.days_left < 0);
  t.match(report.findings[0]!.explanation, /expired on .* \(1 days ago\)/);
});

t.test('untrusted CA', async (t) => {
  const leaf = await pki.leaf(['untrusted.test'], { untrusted: true });
  await https(addr(6, 1), 8448, leaf, keyServer(() => keyDoc('untrusted.test')));
  dns.set('untrusted.test', 'A', addr(6, 1));
  const { code, report, codes } = await check('untrusted.test');
  t.equal(code, 1);
  t.same(codes.filter((c) => c.startsWith('CERT') || c.startsWith('KEY')), ['CERT_UNTRUSTED']);
  const f = report.findings[0]!;
  t.match(f.explanation, /fedpeer untrusted root.*OpenSSL: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  t.match(f.fix, /full chain \(fullchain\.pem, not cert\.pem\).*federation_custom_ca_list/);
});

t.test('no route at all', async (t) => {
  const { code, report, codes } = await check('noroute.test');
  t.equal(code, 1);
  t.same(codes, ['NO_ROUTE', 'CLIENT_WELL_KNOWN_UNREACHABLE']);
  t.same(report.targets, []);
  t.equal(report.resolution.route, null);
  t.match(report.resolution.error, { step: 'dns', check: 'no-address' });
  const f = report.findings[0]!;
  t.match(f.explanation, /no _matrix-fed\._tcp\.noroute\.test SRV record, no _matrix\._tcp\.noroute\.test SRV record, and .*noroute\.test has no AAAA or A records/);
  t.match(f.fix, /\/\.well-known\/matrix\/server on https:\/\/noroute\.test.*_matrix-fed\._tcp\.noroute\.test.*port 8448/);
  t.match(report.verdict, /^Federation with noroute\.test fails: No way to reach noroute\.test\.$/);
});

t.test('key document with a bad signature', async (t) => {
  const leaf = await pki.leaf(['badsig.test']);
  await https(addr(7, 1), 8448, leaf, keyServer(() => ({ ...keyDoc('badsig.test'), valid_until_ts: Date.now() + 2 * 86_400_000 })));
  dns.set('badsig.test', 'A', addr(7, 1));
  const { code, report, codes } = await check('badsig.test');
  t.equal(code, 1);
  t.same(codes.filter((c) => c.startsWith('KEY')), ['KEY_BAD_SIGNATURE']);
  t.match(report.targets[0]!.keys, { ok: false, checks: [{ ok: true }, { ok: true }, { ok: true }, { ok: true }, { ok: true }, { check: 'self_signature', ok: false }] });
  t.match(report.targets[0]!.version, { ok: true, server: { name: 'stand-in' } });
});

t.test('server name mismatch in the key document', async (t) => {
  const leaf = await pki.leaf(['wrongname.test']);
  await https(addr(8, 1), 8448, leaf, keyServer(() => keyDoc('other.test')));
  dns.set('wrongname.test', 'A', addr(8, 1));
  const { code, report, codes } = await check('wrongname.test');
  t.equal(code, 1);
  t.same(codes.filter((c) => c.startsWith('KEY')), ['KEY_SERVER_NAME_MISMATCH']);
  t.match(report.findings[0]!.explanation, /server_name is "other\.test", expected "wrongname\.test"/);
});

t.test('expired key document', async (t) => {
  const leaf = await pki.leaf(['oldkeys.test']);
  await https(addr(8, 2), 8448, leaf, keyServer(() => keyDoc('oldkeys.test', Date.now() - 60_000)));
  dns.set('oldkeys.test', 'A', addr(8, 2));
  const { code, codes } = await check('oldkeys.test');
  t.equal(code, 1);
  t.same(codes.filter((c) => c.startsWith('KEY')), ['KEY_EXPIRED']);
});

t.test('certificate expiring within 14 days: a warning, federation still ok', async (t) => {
  const soon = await issueCertificate(pki.root, { dnsNames: ['soon.test'], notAfter: new Date(Date.now() + 5 * 86_400_000) });
  await https(addr(9, 1), 8448, soon, keyServer(() => keyDoc('soon.test')));
  dns.set('soon.test', 'A', addr(9, 1));
  const { code, report, codes } = await check('soon.test');
  t.equal(code, 0);
  t.same(codes.filter((c) => c.startsWith('CERT')), ['CERT_EXPIRING_SOON']);
  t.match(report.verdict, /works, with 1 warning\.$/);
  t.match(report.findings[0], { severity: 'warning', title: /expires in 4\.9 days/ });
});

t.test('well-known redirect and a short cache lifetime', async (t) => {
  dns.set('redirect.test', 'A', addr(1, 1));
  dns.set('hs.redirect.test', 'A', addr(10, 1));
  await fixture(addr(10, 1), 'redirect.test', ['hs.redirect.test']);
  wellKnown['redirect.test'] = (req, res) => {
    if (req.url === '/.well-known/matrix/server') return void res.writeHead(301, { location: '/matrix.json' }).end();
    if (req.url === '/matrix.json') return json(res, 200, { 'm.server': 'hs.redirect.test' }, { 'cache-control': 'public, max-age=60' });
    json(res, 404, {});
  };
  const { code, report, codes } = await check('redirect.test');
  t.equal(code, 0);
  t.same(codes, ['WELL_KNOWN_REDIRECT', 'WELL_KNOWN_SHORT_CACHE', 'NO_SCT', 'CLIENT_WELL_KNOWN_MISSING']);
  t.match(report.well_known, { responses: [{ status: 301, location: '/matrix.json' }, { url: 'https://redirect.test/matrix.json', status: 200 }], header_cache_seconds: 60, cache_seconds: 300 });
  t.match(report.findings[0]!.explanation, 'https://redirect.test/.well-known/matrix/server -> https://redirect.test/matrix.json');
});

t.test('connection failures: refused TCP, plain HTTP where TLS belongs', async (t) => {
  dns.set('closed.test', 'A', addr(11, 1));
  let r = await check('closed.test');
  t.equal(r.code, 1);
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['TCP_CONNECT_FAILED']);
  t.match(r.report.findings[0], { severity: 'error', explanation: /ECONNREFUSED.*No target of this server accepts connections/ });

  // Plain HTTP where TLS belongs, answering a ClientHello as nginx would: 400 in clear text.
  const plain = createServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')));
  await new Promise<void>((done) => plain.listen(8448, addr(12, 1), done));
  t.teardown(() => new Promise<void>((done) => plain.close(() => done())));
  dns.set('plain.test', 'A', addr(12, 1));
  r = await check('plain.test');
  t.equal(r.code, 1);
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['TLS_HANDSHAKE_FAILED']);
  t.match(r.report.findings[0]!.explanation, /does not speak TLS/);

  // Two SRV targets, one closed: a warning, the other carries federation.
  dns.set('_matrix-fed._tcp.half.test', 'SRV', [
    { priority: 0, weight: 0, port: 8448, target: 'dead.half.test' },
    { priority: 10, weight: 0, port: 8448, target: 'live.half.test' },
  ]);
  dns.set('dead.half.test', 'A', addr(11, 2));
  dns.set('live.half.test', 'A', addr(13, 1));
  await fixture(addr(13, 1), 'half.test', ['half.test']);
  r = await check('half.test');
  t.equal(r.code, 0);
  t.match(r.report.findings.find((f) => f.code === 'TCP_CONNECT_FAILED'), { severity: 'warning', targets: [`${addr(11, 2)}:8448`] });
});

t.test('resolution failures: blocked addresses, SERVFAIL, "." SRV, SRV target without address', async (t) => {
  dns.set('blocked.test', 'A', '127.50.200.1');
  let r = await check('blocked.test');
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['ADDRESS_BLOCKED']);
  t.equal(r.code, 1);
  t.match(r.report.findings[0]!.fix, /ip_range_whitelist/);

  dns.setBehaviour('_matrix-fed._tcp.dnsfail.test', 'servfail');
  r = await check('dnsfail.test');
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['DNS_LOOKUP_FAILED']);
  t.match(r.report.srv, [{ outcome: 'failed' }, { outcome: 'none' }]);

  dns.set('_matrix-fed._tcp.nosvc.test', 'SRV', { priority: 0, weight: 0, port: 0, target: '.' });
  r = await check('nosvc.test');
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['SRV_NO_SERVICE']);

  dns.set('_matrix-fed._tcp.ghost.test', 'SRV', { priority: 0, weight: 0, port: 8448, target: 'nowhere.ghost.test' });
  r = await check('ghost.test');
  t.same(r.codes.filter((c) => !c.startsWith('CLIENT')), ['NO_ROUTE']);
  t.match(r.report.findings[0]!.explanation, /do not fall back to port 8448/);

  dns.set('_matrix-fed._tcp.half2.test', 'SRV', [
    { priority: 0, weight: 0, port: 8448, target: 'nowhere.half2.test' },
    { priority: 10, weight: 0, port: 8448, target: 'live.half.test' },
  ]);
  r = await check('half2.test');
  t.ok(r.codes.includes('SRV_TARGET_NO_ADDRESS'));
});

t.test('broken well-known files', async (t) => {
  dns.set('badwk.test', 'A', addr(1, 1));
  wellKnown['badwk.test'] = (req, res) =>
    req.url === '/.well-known/matrix/server' ? json(res, 200, '{"m.server": "<b>bad name</b>"}') : json(res, 200, '{"m.homeserver": 1}');
  let r = await check('badwk.test');
  t.ok(r.codes.includes('WELL_KNOWN_INVALID'));
  t.ok(r.codes.includes('CLIENT_WELL_KNOWN_INVALID'));
  t.ok(r.codes.includes('CLIENT_WELL_KNOWN_NO_CORS'));
  t.match(r.report.well_known, { outcome: 'failed', check: 'm.server', body: '{"m.server": "<b>bad name</b>"}' });

  dns.set('wk500.test', 'A', addr(1, 1));
  wellKnown['wk500.test'] = (req, res) => (req.url === '/.well-known/matrix/server' ? json(res, 502, 'bad gateway') : void res.writeHead(302, { location: 'https://elsewhere.test/' }).end());
  r = await check('wk500.test');
  t.ok(r.codes.includes('WELL_KNOWN_UNREACHABLE'));
  t.ok(r.codes.includes('CLIENT_WELL_KNOWN_REDIRECT'));
  t.match(r.report.well_known, { outcome: 'failed', check: 'status' });

  // A certificate on 443 without the domain: the well-known fails its TLS check.
  dns.set('wrongcert.test', 'A', addr(1, 1));
  r = await check('wrongcert.test');
  t.match(r.report.findings.find((f) => f.code === 'WELL_KNOWN_UNREACHABLE'), { fix: /valid certificate for wrongcert\.test on port 443/ });
});

t.test('client well-known whose base_url does not answer', async (t) => {
  dns.set('client.test', 'A', addr(1, 1));
  wellKnown['client.test'] = (req, res) =>
    req.url === '/.well-known/matrix/client' ? json(res, 200, { 'm.homeserver': { base_url: `https://${addr(11, 3)}` } }, { 'access-control-allow-origin': '*' }) : json(res, 404, {});
  const r = await check('client.test');
  t.ok(r.codes.includes('CLIENT_WELL_KNOWN_BASE_URL_UNREACHABLE'));
  t.match(r.report.client_well_known, { outcome: 'found', base_url_check: { ok: false, error: /ECONNREFUSED/ } });
});

t.test('whitelisted names are not verified: information, not an error', async (t) => {
  const leaf = await pki.leaf(['exempt.test'], { untrusted: true });
  await https(addr(14, 1), 8448, leaf, keyServer(() => keyDoc('exempt.test')));
  dns.set('exempt.test', 'A', addr(14, 1));
  const wl = join(world.dir, 'whitelist.yaml');
  writeFileSync(wl, `server_name: me.test\nsigning_key_path: unused.key\nfederation_certificate_verification_whitelist: ['*.test']\nip_range_whitelist: ['127.50.0.0/17']\n`);
  const io = capture();
  const code = await main(['check', 'exempt.test', '--json', '--config', wl, '--dns-server', dns.hostPort, '--ca-file', world.caFile], io);
  t.equal(code, 0, io.err);
  const report = JSON.parse(io.out) as CheckReport;
  t.same(report.findings.map((f) => f.code).filter((c) => !c.startsWith('CLIENT')), ['CERT_NOT_VERIFIED']);
  t.match(report.findings[0]!.explanation, /federation_certificate_verification_whitelist entry "\*\.test".*would be refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  t.match(report.targets[0], { tls: { verification: 'exempt', trusted: false, accepted: true }, keys: { ok: true } });
});

t.test('IP literal and explicit port', async (t) => {
  const ipLeaf = await pki.leaf([addr(15, 1)]);
  await https(addr(15, 1), 8448, ipLeaf, keyServer(() => keyDoc(addr(15, 1))));
  let r = await check(addr(15, 1));
  t.equal(r.code, 0);
  t.match(r.report, { well_known: null, srv: [], client_well_known: null, resolution: { route: 'ip-literal' }, targets: [{ sni: null, tls: { name_valid: true } }] });

  const portLeaf = await pki.leaf(['other-name.test']);
  await https(addr(15, 2), 9000, portLeaf, keyServer(() => keyDoc('port.test:9000')));
  dns.set('port.test', 'A', addr(15, 2));
  r = await check('port.test:9000');
  t.equal(r.code, 1);
  t.equal(r.report.resolution.route, 'explicit-port');
  t.match(r.report.findings[0], { code: 'CERT_NAME_MISMATCH', explanation: /must be valid for port\.test \(the server name\) but is valid only for other-name\.test/ });
});

t.test('usage errors', async (t) => {
  let io = capture();
  t.equal(await main(['check'], io), 2);
  t.match(io.err, /check needs a server name/);
  io = capture();
  t.equal(await main(['check', 'https://example.test'], io), 2);
  t.match(io.err, /not a valid server name: "https:\/\/example\.test".*no https:\/\//);
  io = capture();
  t.equal(await main(['--help'], io), 0);
  t.match(io.out, /check NAME \[--json\]/);
});
