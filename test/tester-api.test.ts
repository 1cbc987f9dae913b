// matrix-federation-tester compatibility (127.93.x.y): the report in the
// tester's shape, from the CLI (--format tester) and from the check page's
// api/report and api/federation-ok, held to the tester's schema field by
// field (main.go's ServerReport and gomatrixserverlib's KeyChecks); CORS,
// the one-minute cache and how to skip it; and the report items that go
// with it (server software, each key's signature, the client well-known
// fix, addresses kept on one line).
import t, { type Test } from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { main } from '../src/cli.js';
import { startServer, type RunningServer } from '../src/commands/serve.js';
import { renderHtmlReport } from '../src/check/report-html.js';
import { renderText } from '../src/check/report-text.js';
import { commonName, invalidNameTesterReport, testerReport } from '../src/check/tester.js';
import { keyResults, MAX_KEYS_VERIFIED, MAX_VERIFIED_BYTES } from '../src/check/key-signatures.js';
import type { CheckReport } from '../src/check/types.js';
import { cachedChecker } from '../src/check/run.js';
import { signJson } from '../src/matrix/signing.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestServer } from './harness/https-server.js';
import { captureLogger, startFixture, type Fixture } from './harness/server-fixture.js';
import { requireTool } from './harness/tools.js';
import { captureIO } from './harness/cli-io.js';

const world = await federationWorld('tester-api');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const cfg = join(world.dir, 'homeserver.yaml');
writeFileSync(cfg, `server_name: me.test\nsigning_key_path: unused.key\nfederation_custom_ca_list: ['${world.caFile}']\nfederation_dns_servers: ['${dns.hostPort}']\nip_range_whitelist: ['127.93.0.0/17']\n`);


const fixtures: Fixture[] = [];
const servers: TestServer[] = [];
const running: RunningServer[] = [];
t.teardown(async () => {
  for (const s of running) await s.close(0);
  for (const f of fixtures) await f.close();
  for (const s of servers) await s.close();
});

// --- The tester's schema (main.go at ded612f, gomatrixserverlib keys.go), every field and its JSON type.
type Shape = 'string' | 'number' | 'boolean' | 'any' | { nullable: Shape } | { optional: Shape } | { array: Shape } | { map: Shape } | { object: Record<string, Shape> };
const nullable = (s: Shape): Shape => ({ nullable: s });
const optional = (s: Shape): Shape => ({ optional: s });
const ERROR: Shape = { object: { Message: 'string' } };
const SERVER_REPORT: Shape = {
  object: {
    Error: optional('string'),
    WellKnownResult: { object: { 'm.server': 'string', result: optional('string'), CacheExpiresAt: 'number' } },
    DNSResult: {
      object: {
        SRVSkipped: 'boolean',
        SRVCName: 'string',
        SRVRecords: nullable({ array: { object: { Target: 'string', Port: 'number', Priority: 'number', Weight: 'number' } } }),
        SRVError: nullable(ERROR),
        Hosts: { map: { object: { CName: 'string', Addrs: nullable({ array: 'string' }), Error: nullable(ERROR) } } },
        Addrs: nullable({ array: 'string' }),
      },
    },
    ConnectionReports: {
      map: {
        object: {
          Certificates: nullable({ array: { object: { SubjectCommonName: 'string', IssuerCommonName: 'string', SHA256Fingerprint: 'string', DNSNames: nullable({ array: 'string' }) } } }),
          Cipher: { object: { Version: 'string', CipherSuite: 'string' } },
          Checks: {
            object: {
              AllChecksOK: 'boolean',
              MatchingServerName: 'boolean',
              FutureValidUntilTS: 'boolean',
              HasEd25519Key: 'boolean',
              AllEd25519ChecksOK: nullable('boolean'),
              Ed25519Checks: { map: { object: { ValidEd25519: 'boolean', MatchingSignature: 'boolean' } } },
              ValidCertificates: 'boolean',
            },
          },
          Errors: { array: ERROR },
          Ed25519VerifyKeys: nullable({ map: 'string' }),
          Info: { object: {} },
          Keys: 'any',
        },
      },
    },
    ConnectionErrors: { map: ERROR },
    Version: { object: { name: optional('string'), version: optional('string'), error: optional('string') } },
    FederationOK: 'boolean',
  },
};

/** Every field the schema names, of its type, and no other field. */
function assertShape(t: Test, value: unknown, shape: Shape, at = '$'): void {
  if (shape === 'any') return;
  if (typeof shape === 'string') {
    t.equal(typeof value, shape, `${at} is a ${shape}`);
    return;
  }
  if ('nullable' in shape) return value === null ? undefined : assertShape(t, value, shape.nullable, at);
  if ('optional' in shape) return value === undefined ? undefined : assertShape(t, value, shape.optional, at);
  if ('array' in shape) {
    if (!t.ok(Array.isArray(value), `${at} is an array`)) return;
    (value as unknown[]).forEach((v, i) => assertShape(t, v, shape.array, `${at}[${i}]`));
    return;
  }
  if (!t.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${at} is an object`)) return;
  const obj = value as Record<string, unknown>;
  if ('map' in shape) {
    for (const [k, v] of Object.entries(obj)) assertShape(t, v, shape.map, `${at}[${JSON.stringify(k)}]`);
    return;
  }
  t.same(Object.keys(obj).filter((k) => !(k in shape.object)), [], `${at} has only the tester's fields`);
  for (const [k, s] of Object.entries(shape.object)) {
    if (!(k in obj) && !(typeof s === 'object' && 'optional' in s)) t.fail(`${at}.${k} is missing`);
    else assertShape(t, obj[k], s, `${at}.${k}`);
  }
}

async function testerJson(name: string): Promise<{ code: number; report: Record<string, any> }> {
  const c = captureIO();
  const code = await main(['check', name, '--format', 'tester', '--config', cfg], c.io);
  return { code, report: JSON.parse(c.out()) };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void =>
  void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

// srv.test: _matrix-fed._tcp SRV -> hs.srv.test:8448, a fedpeer with a certificate for srv.test.
dns.set('_matrix-fed._tcp.srv.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'hs.srv.test' });
dns.set('hs.srv.test', 'A', addr(1, 1));
const srvPeer = await startFixture({ address: addr(1, 1), serverName: 'srv.test', certNames: ['srv.test'] });
fixtures.push(srvPeer);

// wk.test: delegated by a well-known (cached for an hour) to an IP literal with a port.
const wkLeaf = await pki.leaf(['wk.test']);
dns.set('wk.test', 'A', addr(2, 1));
servers.push(
  await startHttpsServer({
    address: addr(2, 1),
    port: 443,
    certificates: wkLeaf,
    handler: (req, res) =>
      req.url === '/.well-known/matrix/server' ? json(res, 200, { 'm.server': `${addr(2, 2)}:8448` }, { 'cache-control': 'max-age=3600' }) : json(res, 404, { errcode: 'M_NOT_FOUND' }),
  }),
);
fixtures.push(await startFixture({ address: addr(2, 2), serverName: 'wk.test', certNames: [addr(2, 2)] }));

// keys.test: three keys; one signs, one does not, one's signature is wrong.
const k1 = generateSigningKey('k1');
const k2 = generateSigningKey('k2');
const k3 = generateSigningKey('k3');
const keysDoc = () => {
  const doc = {
    server_name: 'keys.test',
    verify_keys: { [k1.keyId]: { key: k1.publicKeyBase64 }, [k2.keyId]: { key: k2.publicKeyBase64 }, [k3.keyId]: { key: k3.publicKeyBase64 } },
    old_verify_keys: {},
    valid_until_ts: Date.now() + 86_400_000,
  };
  const signed = signJson(doc, 'keys.test', k1) as Record<string, any>;
  signed.signatures['keys.test'][k3.keyId] = signed.signatures['keys.test'][k1.keyId];
  return signed;
};
const keysLeaf = await pki.leaf(['keys.test']);
dns.set('keys.test', 'A', addr(3, 1));
const keysHandler: Handler = (req, res) => {
  if (req.url === '/_matrix/federation/v1/version') return json(res, 200, { server: { name: 'Synapse', version: '1.120.0' } });
  if (req.url === '/_matrix/key/v2/server') return json(res, 200, keysDoc());
  json(res, 404, {});
};
servers.push(await startHttpsServer({ address: addr(3, 1), port: 8448, certificates: keysLeaf, handler: keysHandler }));

// untrusted.test: a certificate from a CA nobody trusts.
const untrustedLeaf = await pki.leaf(['untrusted.test'], { untrusted: true });
dns.set('untrusted.test', 'A', addr(4, 1));
servers.push(await startHttpsServer({ address: addr(4, 1), port: 8448, certificates: untrustedLeaf, handler: keysHandler }));

t.test('CLI --format tester: a working server through SRV, field by field', async (t) => {
  const { code, report } = await testerJson('srv.test');
  t.equal(code, 0);
  assertShape(t, report, SERVER_REPORT);
  t.equal(report.FederationOK, true);
  t.same(report.WellKnownResult, { 'm.server': '', result: report.WellKnownResult.result, CacheExpiresAt: 0 });
  t.match(report.WellKnownResult.result, /srv\.test: no A or AAAA records/, 'why there is no well-known');
  t.same(report.DNSResult, {
    SRVSkipped: false,
    SRVCName: '_matrix-fed._tcp.srv.test.',
    SRVRecords: [{ Target: 'hs.srv.test.', Port: 8448, Priority: 10, Weight: 5 }],
    SRVError: null,
    Hosts: { 'hs.srv.test': { CName: 'hs.srv.test.', Addrs: [addr(1, 1)], Error: null } },
    Addrs: [`${addr(1, 1)}:8448`],
  });
  t.same(Object.keys(report.ConnectionReports), [`${addr(1, 1)}:8448`]);
  t.same(report.ConnectionErrors, {});
  const c = report.ConnectionReports[`${addr(1, 1)}:8448`];
  const keyId = srvPeer.key.keyId;
  t.same(c.Checks, {
    AllChecksOK: true,
    MatchingServerName: true,
    FutureValidUntilTS: true,
    HasEd25519Key: true,
    AllEd25519ChecksOK: true,
    Ed25519Checks: { [keyId]: { ValidEd25519: true, MatchingSignature: true } },
    ValidCertificates: true,
  });
  t.same(c.Ed25519VerifyKeys, { [keyId]: srvPeer.key.publicKeyBase64 });
  t.same(c.Errors, []);
  t.same(c.Info, {});
  t.equal(c.Keys.server_name, 'srv.test');
  t.ok(c.Keys.signatures['srv.test'][keyId], 'the key document as served, signatures and all');
  t.equal(c.Cipher.Version, 'TLS 1.3');
  t.match(c.Cipher.CipherSuite, /^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/, 'the IANA name, as Go reports it');
  const leaf = new X509Certificate((await pki.leaf(['srv.test'])).certPem);
  t.same(c.Certificates[0], {
    SubjectCommonName: 'srv.test',
    IssuerCommonName: 'fedpeer test root',
    SHA256Fingerprint: createHash('sha256').update(leaf.raw).digest('base64').replace(/=+$/, ''),
    DNSNames: ['srv.test'],
  });
  t.same(report.Version, { name: 'fedpeer', version: report.Version.version });
  t.match(report.Version.version, /^\d+\.\d+\.\d+/);
});

t.test('delegation by well-known: m.server and when the cache expires; an address as the target', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const { code, report } = await testerJson('wk.test');
  t.equal(code, 0);
  assertShape(t, report, SERVER_REPORT);
  t.equal(report.WellKnownResult['m.server'], `${addr(2, 2)}:8448`);
  t.notOk('result' in report.WellKnownResult, 'no error when found');
  t.ok(report.WellKnownResult.CacheExpiresAt >= before + 3600 && report.WellKnownResult.CacheExpiresAt <= before + 3660, 'Unix seconds, an hour ahead');
  t.match(report.DNSResult, { SRVSkipped: true, SRVCName: '', SRVRecords: null, SRVError: null, Addrs: [`${addr(2, 2)}:8448`] });
  t.same(report.DNSResult.Hosts, { [addr(2, 2)]: { CName: `${addr(2, 2)}.`, Addrs: [addr(2, 2)], Error: null } });
  t.same(report.ConnectionReports[`${addr(2, 2)}:8448`].Certificates[0].DNSNames, null, 'an IP-only certificate has no DNS names');
});

t.test('each key with its own signature result, in the tester shape and in both reports', async (t) => {
  const { code, report } = await testerJson('keys.test');
  t.equal(code, 1);
  assertShape(t, report, SERVER_REPORT);
  const c = report.ConnectionReports[`${addr(3, 1)}:8448`];
  t.same(c.Checks.Ed25519Checks, {
    [k1.keyId]: { ValidEd25519: true, MatchingSignature: true },
    [k2.keyId]: { ValidEd25519: true, MatchingSignature: false },
    [k3.keyId]: { ValidEd25519: true, MatchingSignature: false },
  });
  t.match(c.Checks, { AllChecksOK: false, MatchingServerName: true, FutureValidUntilTS: true, HasEd25519Key: true, AllEd25519ChecksOK: false, ValidCertificates: true });
  t.equal(c.Ed25519VerifyKeys, null, 'no keys when the checks fail, as gomatrixserverlib does');
  t.equal(report.FederationOK, false);
  t.same(report.Version, { name: 'Synapse', version: '1.120.0' });

  const j = captureIO();
  await main(['check', 'keys.test', '--json', '--config', cfg], j.io);
  const full = JSON.parse(j.out()) as CheckReport;
  t.match(full.targets[0]!.keys!.verify_keys, [
    { key_id: k1.keyId, key: k1.publicKeyBase64, valid_ed25519: true, signature: 'valid' },
    { key_id: k2.keyId, signature: 'missing', detail: `no signature by ${k2.keyId}` },
    { key_id: k3.keyId, signature: 'invalid', detail: /does not verify/ },
  ]);
  const text = renderText(full);
  t.match(text, /^Server software: Synapse 1\.120\.0$/m, 'the software in the summary');
  t.match(text, new RegExp(`${k1.keyId} \\S+: signature valid$`, 'm'));
  t.match(text, new RegExp(`${k2.keyId} \\S+: NOT signed by this key \\(no signature by ${k2.keyId}\\)$`, 'm'));
  t.match(text, new RegExp(`${k3.keyId} \\S+: signature INVALID \\(.*does not verify.*\\)$`, 'm'));
  const html = renderHtmlReport(full, { action: '/_fedpeer/check' });
  t.match(html, /<p id="software">Server software: Synapse 1\.120\.0<\/p>/);
  t.match(html, /<table class="keys">[^]*NOT signed by this key[^]*signature INVALID/);
});

t.test('a refused certificate, a name that does not resolve: ConnectionErrors and SRVError', async (t) => {
  let { code, report } = await testerJson('untrusted.test');
  t.equal(code, 1);
  assertShape(t, report, SERVER_REPORT);
  t.same(report.ConnectionReports, {});
  t.match(report.ConnectionErrors[`${addr(4, 1)}:8448`].Message, /^the certificate was refused: its chain is not trusted \(.+\); nothing is sent over a certificate federation would not accept$/);
  t.match(report.Version.error, /./);
  ({ code, report } = await testerJson('nowhere.test'));
  t.equal(code, 1);
  assertShape(t, report, SERVER_REPORT);
  t.match(report.DNSResult, { SRVSkipped: false, SRVRecords: null, Addrs: null, Hosts: {} });
  t.match(report.DNSResult.SRVError.Message, /_matrix-fed\._tcp\.nowhere\.test: .*; _matrix\._tcp\.nowhere\.test: /);
  t.equal(report.FederationOK, false);
  const invalid = invalidNameTesterReport('https://x');
  assertShape(t, invalid, SERVER_REPORT);
  t.equal(invalid.Error, "Invalid server name 'https://x'");
});

t.test('the CLI: --format is checked', async (t) => {
  let c = captureIO();
  t.equal(await main(['check', 'srv.test', '--format', 'yaml'], c.io), 2);
  t.match(c.err(), /--format: expected text, json or tester, got "yaml"/);
  c = captureIO();
  t.equal(await main(['check', 'srv.test', '--format', 'tester', '--json'], c.io), 2);
  t.match(c.err(), /--json and --format tester ask for different outputs/);
});

t.test('the check page: api/report and api/federation-ok with CORS, the cache and no_cache', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-tester-api-'));
  const leaf = await pki.leaf([addr(9, 1)]);
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]));
  const { loadConfig } = await import('../src/config/load.js');
  writeFileSync(
    join(dir, 'hs.yaml'),
    `server_name: page.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
check_page: {enabled: true}
federation_custom_ca_list: ['${world.caFile}']
federation_dns_servers: ['${dns.hostPort}']
ip_range_whitelist: ['127.93.0.0/17']
limits: {rate_limit: {per_second: 1, burst: 100}}
listeners:
  - {port: 8448, bind_addresses: ['${addr(9, 1)}'], tls: true, type: http, resources: [{names: [federation]}]}
`,
  );
  const server = await startServer(await loadConfig(join(dir, 'hs.yaml')), { logger: captureLogger('warn').logger, watchCertificates: false });
  running.push(server);
  const ask = (path: string, method = 'GET', from = addr(9, 100)) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = https.request({ host: addr(9, 1), port: 8448, path, method, ca: pki.root.certPem, localAddress: from, headers: { origin: 'https://tool.example' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  const cors = (r: { headers: Record<string, unknown> }) => t.match(r.headers, { 'access-control-allow-origin': '*', 'access-control-allow-methods': /GET/, 'access-control-allow-headers': /Content-Type/ });

  let r = await ask('/_fedpeer/check/api/report?server_name=srv.test');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^application\/json/);
  cors(r);
  const viaApi = JSON.parse(r.body);
  assertShape(t, viaApi, SERVER_REPORT);
  t.equal(viaApi.FederationOK, true);
  t.match(r.body, /^\{\n {2}"WellKnownResult"/, 'indented as the tester does');
  r = await ask('/_fedpeer/check/api/federation-ok?server_name=srv.test');
  t.equal(r.status, 200);
  t.equal(r.body, 'GOOD');
  t.match(r.headers['content-type'], /^text\/plain/);
  cors(r);
  r = await ask('/_fedpeer/check/api/federation-ok?server_name=untrusted.test');
  t.equal(r.body, 'BAD');
  r = await ask('/_fedpeer/check/api/report?server_name=bad%20name');
  t.equal(r.status, 200);
  t.match(JSON.parse(r.body), { Error: "Invalid server name 'bad name'", FederationOK: false });
  r = await ask('/_fedpeer/check/api/federation-ok?server_name=bad%20name');
  t.equal(r.body, 'BAD');
  for (const path of ['/_fedpeer/check/api/report', '/_fedpeer/check/api/federation-ok?server_name=']) {
    r = await ask(path);
    t.equal(r.status, 400, path);
    t.same(JSON.parse(r.body), { errcode: 'M_MISSING_PARAM', error: 'Missing server_name parameter' });
    cors(r);
  }
  r = await ask('/_fedpeer/check/api/report', 'OPTIONS');
  t.equal(r.status, 200);
  cors(r);
  r = await ask('/_fedpeer/check/api/report?server_name=srv.test', 'POST');
  t.equal(r.status, 405);

  // Cached for a minute: srv.test's SRV record now points nowhere, and only no_cache=1 sees it.
  dns.set('_matrix-fed._tcp.srv.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'gone.srv.test' });
  t.teardown(() => dns.set('_matrix-fed._tcp.srv.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'hs.srv.test' }));
  t.equal((await ask('/_fedpeer/check/api/federation-ok?server_name=srv.test')).body, 'GOOD', 'from the cache');
  t.equal((await ask('/_fedpeer/check/api/federation-ok?server_name=srv.test&no_cache=1')).body, 'BAD', 'no_cache=1 checks again');
  t.equal((await ask('/_fedpeer/check/api/federation-ok?server_name=srv.test')).body, 'BAD', 'and the new run is what is cached');
  const page = await ask('/_fedpeer/check?server_name=srv.test&format=json&no_cache=true');
  t.equal(JSON.parse(page.body).federation_ok, false, 'the page takes no_cache too');

  // Every answer is charged to the asking address: past the burst, 429 with CORS.
  let limited: { status: number; headers: Record<string, unknown>; body: string } | undefined;
  for (let i = 0; i < 110 && !limited; i++) {
    const x = await ask('/_fedpeer/check/api/federation-ok?server_name=srv.test', 'GET', addr(9, 101));
    if (x.status === 429) limited = x;
  }
  t.ok(limited, 'rate limited');
  t.match(JSON.parse(limited!.body), { errcode: 'M_LIMIT_EXCEEDED' });
  cors(limited!);
  t.match(limited!.headers['retry-after'], /^\d+$/);
});

t.test('cachedChecker: fresh runs anew and replaces the cached report', async (t) => {
  let runs = 0;
  const checker = cachedChecker(async (name) => ({ server_name: name, run: ++runs }) as unknown as CheckReport, { ttlMs: 60_000 });
  t.equal(((await checker.check('a')) as unknown as { run: number }).run, 1);
  t.equal(((await checker.check('a')) as unknown as { run: number }).run, 1);
  t.equal(((await checker.check('a', { fresh: true })) as unknown as { run: number }).run, 2);
  t.equal(((await checker.check('a')) as unknown as { run: number }).run, 2);
});

t.test('key results: limits on what is verified, keys that are not keys', async (t) => {
  const many = generateSigningKey('m0');
  const verify_keys: Record<string, unknown> = { 'ed25519:nokey': {}, 'ed25519:short': { key: 'AAAA' }, 'ed25519:bad64': { key: '!!!' }, 'curve25519:x': { key: 'x' } };
  for (let i = 0; i < MAX_KEYS_VERIFIED + 2; i++) verify_keys[`ed25519:m${i}`] = { key: many.publicKeyBase64 };
  const doc = { server_name: 's.test', verify_keys, valid_until_ts: 1 } as Record<string, unknown>;
  const sigs: Record<string, string> = {};
  const signed = signJson(doc, 's.test', many) as Record<string, any>;
  for (let i = 0; i < MAX_KEYS_VERIFIED + 2; i++) sigs[`ed25519:m${i}`] = signed.signatures['s.test'][many.keyId];
  const withSigs = { ...doc, signatures: { 's.test': sigs } };
  const results = keyResults(withSigs, 's.test', 1000);
  t.match(results.slice(0, 3), [
    { key_id: 'ed25519:nokey', key: null, valid_ed25519: false, signature: 'not-checked', detail: 'no "key" string' },
    { key_id: 'ed25519:short', valid_ed25519: false, signature: 'not-checked', detail: /not 32 bytes/ },
    { key_id: 'ed25519:bad64', valid_ed25519: false },
  ]);
  t.notOk(results.some((r) => r.key_id.startsWith('curve25519')), 'only Ed25519 keys, as the tester');
  const checked = results.slice(3);
  t.equal(checked.filter((r) => r.signature !== 'not-checked').length, MAX_KEYS_VERIFIED);
  t.match(checked.at(-1), { signature: 'not-checked', detail: /only the first 16/ });
  t.ok(checked.every((r) => r.signature === 'valid' || r.signature === 'not-checked'), 'the same key signs for every id');
  t.match(keyResults(withSigs, 's.test', MAX_VERIFIED_BYTES + 1)[3], { signature: 'not-checked', detail: /over 64 KiB/ });
  t.same(keyResults('nope', 's.test', 4), []);
  t.same(keyResults({ verify_keys: [] }, 's.test', 4), []);
  t.equal(commonName('O=x, CN=a.test, C=DE'), 'a.test');
  t.equal(commonName('O=x'), '');
});

t.test('testerReport of hand-made reports: TLS versions, missing facts', async (t) => {
  const j = captureIO();
  await main(['check', 'srv.test', '--json', '--config', cfg], j.io);
  const base = JSON.parse(j.out()) as CheckReport;
  const target = base.targets[0]!;
  const variant = (tls: Partial<NonNullable<typeof target.tls>>, keys: Partial<NonNullable<typeof target.keys>> = {}): CheckReport => ({
    ...base,
    targets: [{ ...target, tls: { ...target.tls!, ...tls }, keys: { ...target.keys!, ...keys } }],
  });
  const one = (r: CheckReport) => Object.values(testerReport(r).ConnectionReports)[0]!;
  t.equal(one(variant({ protocol: 'TLSv1.2', cipher_standard: undefined, cipher: 'ECDHE-RSA-AES128-GCM-SHA256' })).Cipher.Version, 'TLS 1.2');
  t.equal(one(variant({ protocol: 'TLSv1', cipher_standard: null })).Cipher.Version, 'TLS 1.0');
  t.equal(one(variant({ protocol: 'TLSv1', cipher_standard: null, cipher: 'X' })).Cipher.CipherSuite, 'X');
  t.equal(one(variant({ protocol: null, cipher_standard: null, cipher: null })).Cipher.Version, '');
  const wrongName = one(variant({ name_valid: false, name_error: 'Hostname/IP does not match', trusted: false, trust_error: null }));
  t.same(wrongName.Errors, [{ Message: 'certificate not trusted: unknown' }, { Message: 'Hostname/IP does not match' }]);
  t.equal(one(variant({ name_valid: false, name_error: null })).Errors[0]!.Message, `certificate not valid for ${target.tls_name}`);
  const noKeyList = one(variant({}, { verify_keys: undefined }));
  t.match(noKeyList.Checks, { HasEd25519Key: false, AllEd25519ChecksOK: null, AllChecksOK: false });
  const noRaw = testerReport(variant({}, { raw: null, error: 'the body is not JSON' }));
  t.match(Object.values(noRaw.ConnectionErrors)[0], { Message: 'the body is not JSON' });
  const refusedName = testerReport(variant({ accepted: false, trusted: true, name_valid: false, name_error: null }));
  t.match(Object.values(refusedName.ConnectionErrors)[0]!.Message, `it is not valid for ${target.tls_name}`);
  const refusedOther = testerReport(variant({ accepted: false, trusted: true, name_valid: true }));
  t.match(Object.values(refusedOther.ConnectionErrors)[0]!.Message, /it was refused/);
  const tcp = testerReport({ ...base, targets: [{ ...target, tcp: { ok: false, ms: null, error: null }, tls: null }] });
  t.match(Object.values(tcp.ConnectionErrors)[0], { Message: 'TCP connection failed' });
  const handshake = testerReport({ ...base, targets: [{ ...target, tls: { ...target.tls!, ok: false, accepted: false, error: null } }] });
  t.match(Object.values(handshake.ConnectionErrors)[0], { Message: 'TLS handshake failed' });
  const nothing = testerReport({ ...base, targets: [{ ...target, keys: null }] });
  t.match(Object.values(nothing.ConnectionErrors)[0], { Message: 'no key document' });
  const noWk = testerReport({ ...base, well_known: null, targets: [], resolution: { ...base.resolution, error: null } });
  t.same(noWk.WellKnownResult, { 'm.server': '', result: 'No .well-known found', CacheExpiresAt: 0 });
  t.same(noWk.Version, { error: 'no target answered /_matrix/federation/v1/version' });
});

t.test('the client well-known fix does not invent a base URL', async (t) => {
  const j = captureIO();
  await main(['check', 'srv.test', '--json', '--config', cfg], j.io);
  const report = JSON.parse(j.out()) as CheckReport;
  const missing = report.findings.find((f) => f.code === 'CLIENT_WELL_KNOWN_MISSING' || f.code === 'CLIENT_WELL_KNOWN_UNREACHABLE');
  t.ok(missing, 'srv.test publishes no client well-known');
  t.match(missing!.fix, /"base_url":"<the https URL your homeserver's client API answers at>"/);
  t.notMatch(missing!.fix, /matrix\.srv\.test/);
});

t.test('in a real browser, no address is broken over two lines', async (t) => {
  if (!requireTool(t, 'chromium')) return;
  const j = captureIO();
  await main(['check', 'srv.test', '--json', '--config', cfg], j.io);
  const base = JSON.parse(j.out()) as CheckReport;
  const v6 = '2001:db8:1234:5678:9abc:def0:1234:5678';
  const target = { ...base.targets[0]!, address: v6 };
  const report: CheckReport = {
    ...base,
    targets: [target, target],
    findings: [{ code: 'NO_SCT', severity: 'info', title: 't', explanation: 'e', fix: null, targets: [`[${v6}]:8448`, `[${v6}]:8449`, `[${v6}]:8450`] }],
  };
  const profile = mkdtempSync(join(tmpdir(), 'fedpeer-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 360, height: 800 },
  });
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.setContent(renderHtmlReport(report, { action: '/_fedpeer/check' }));
  const lines = await page.$$eval('.addr', (els) => els.map((e) => [e.textContent, e.getClientRects().length] as const));
  t.ok(lines.length >= 6, `addresses found: ${lines.length}`);
  for (const [text, rects] of lines) t.equal(rects, 1, `${text} on one line`);
});
