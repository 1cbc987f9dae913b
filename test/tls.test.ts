// Certificates by SNI on a real TLS listener, the start-up checks, and the
// minimum TLS version. Block 127.10.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { block } from './harness/addresses.js';
import { makeTestPki, type TestPki } from './harness/test-ca.js';
import { captureLogger } from './harness/server-fixture.js';
import { probeTls, httpsGet } from './harness/tls-probe.js';
import { defaultConfig } from '../src/config/load.js';
import { startServer, type RunningServer } from '../src/commands/serve.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { issueCertificate } from '../src/server/dev-ca.js';
import { createCertificateStore, loadCertificate, expiryWarning, covers, DAY_MS } from '../src/server/certificates.js';

const addr = block('tls');
const DAY = 24 * 3600_000;

interface Served {
  server: RunningServer;
  dir: string;
  lines: () => Array<Record<string, unknown>>;
}

/** Writes the PEM files and starts a server with one TLS listener on `address`:8448. */
async function serve(t: Test, opts: { address: string; files: Record<string, string>; raw: Record<string, unknown> }): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  for (const [name, text] of Object.entries(opts.files)) writeFileSync(join(dir, name), text);
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: 'example.test',
      signing_key_path: 'signing.key',
      listeners: [{ port: 8448, bind_addresses: [opts.address], tls: true, type: 'http', resources: [{ names: ['federation'] }] }],
      ...opts.raw,
    },
  });
  const log = captureLogger();
  const server = await startServer(config, { logger: log.logger, watchCertificates: false });
  t.teardown(() => server.close(500));
  return { server, dir, lines: log.lines };
}

let pki: TestPki;
t.before(async () => {
  pki = await makeTestPki();
});

t.test('each SNI name gets its own certificate; no SNI and unknown names get the default', async (t) => {
  const [plain, hs, wild] = await Promise.all([pki.leaf(['example.test', addr(1, 1)]), pki.leaf(['hs.example.test']), pki.leaf(['*.wild.example.test'])]);
  const s = await serve(t, {
    address: addr(1, 1),
    files: { 'plain.crt': plain.chainPem, 'plain.key': plain.keyPem, 'hs.crt': hs.chainPem, 'hs.key': hs.keyPem, 'wild.crt': wild.chainPem, 'wild.key': wild.keyPem },
    raw: {
      public_baseurl: 'https://hs.example.test/',
      tls_certificate_path: 'plain.crt',
      tls_private_key_path: 'plain.key',
      tls_certificates: [
        { certificate_path: 'hs.crt', private_key_path: 'hs.key' },
        { certificate_path: 'wild.crt', private_key_path: 'wild.key' },
      ],
    },
  });
  const ca = pki.root.certPem;
  const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
  const cases: Array<[string | undefined, string, string]> = [
    ['example.test', fp(plain.certPem), 'exact name, default certificate'],
    ['hs.example.test', fp(hs.certPem), 'exact name, second certificate'],
    ['HS.Example.TEST', fp(hs.certPem), 'names compare case-insensitively'],
    ['a.wild.example.test', fp(wild.certPem), 'wildcard'],
    ['a.b.wild.example.test', fp(plain.certPem), 'a wildcard covers one label only'],
    ['unknown.test', fp(plain.certPem), 'unknown name: default'],
    [undefined, fp(plain.certPem), 'no SNI (connecting by IP): default'],
  ];
  for (const [servername, want, why] of cases) {
    const p = await probeTls({ host: addr(1, 1), port: 8448, ca, ...(servername ? { servername } : {}) });
    t.equal(p.fingerprint, want, why);
  }
  for (const name of ['example.test', 'hs.example.test', 'x.wild.example.test']) {
    t.ok((await probeTls({ host: addr(1, 1), port: 8448, ca, servername: name })).authorized, `${name} verifies against the test root`);
  }
  const res = await httpsGet({ host: addr(1, 1), port: 8448, path: '/_matrix/federation/v1/version', ca, servername: 'hs.example.test' });
  t.equal(res.status, 200, 'requests run over the SNI-chosen certificate');
  t.equal(s.server.certificates?.entries().length, 3);
  t.notOk(s.lines().some((l) => l.level === 40 && /covers/.test(String(l.msg))), 'no coverage warning: both hosts are covered');
});

t.test('TLS 1.2 is the floor, 1.3 when configured, with and without SNI', async (t) => {
  const leaf = await pki.leaf(['example.test']);
  const files = { 'a.crt': leaf.chainPem, 'a.key': leaf.keyPem };
  const raw = { tls_certificate_path: 'a.crt', tls_private_key_path: 'a.key' };
  await serve(t, { address: addr(2, 1), files, raw });
  await serve(t, { address: addr(2, 2), files, raw: { ...raw, tls_minimum_version: '1.3' } });
  const ca = pki.root.certPem;
  await t.rejects(probeTls({ host: addr(2, 1), port: 8448, ca, servername: 'example.test', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 refused');
  t.equal((await probeTls({ host: addr(2, 1), port: 8448, ca, servername: 'example.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  for (const servername of ['example.test', undefined]) {
    await t.rejects(probeTls({ host: addr(2, 2), port: 8448, ca, maxVersion: 'TLSv1.2', ...(servername ? { servername } : {}) }), `1.3 only: TLS 1.2 refused (SNI ${servername ?? 'none'})`);
    t.equal((await probeTls({ host: addr(2, 2), port: 8448, ca, ...(servername ? { servername } : {}) })).protocol, 'TLSv1.3');
  }
});

t.test('start-up refuses a broken certificate and names the file', async (t) => {
  const leaf = await pki.leaf(['example.test']);
  const other = await pki.leaf(['other.test']);
  const expired = await pki.leaf(['example.test'], { expired: true });
  const future = await pki.leaf(['example.test'], { notYetValid: true });
  const chained = await pki.leaf(['chain.example.test'], { viaIntermediate: true });
  const reversed = pki.intermediate.certPem + chained.certPem;
  const wrongIssuer = chained.certPem + pki.untrustedIntermediate.certPem;
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['missing file', { 'k.key': leaf.keyPem }, /c\.crt: cannot read certificate \(tls_certificate_path\): ENOENT/],
    ['missing key', { 'c.crt': leaf.certPem }, /k\.key: cannot read private key \(tls_certificate_path\): ENOENT/],
    ['not PEM', { 'c.crt': 'hello', 'k.key': leaf.keyPem }, /c\.crt: no PEM certificate found/],
    ['broken PEM', { 'c.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'k.key': leaf.keyPem }, /c\.crt: cannot parse certificate/],
    ['broken key', { 'c.crt': leaf.certPem, 'k.key': 'nope' }, /c\.crt: cannot parse private key/],
    ['key mismatch', { 'c.crt': leaf.certPem, 'k.key': other.keyPem }, /c\.crt: private key does not match the certificate/],
    ['chain reversed', { 'c.crt': reversed, 'k.key': chained.keyPem }, /c\.crt: the private key belongs to certificate 2 of 2 .*put the server certificate first/],
    ['chain from another issuer', { 'c.crt': wrongIssuer, 'k.key': chained.keyPem }, /c\.crt: chain order: certificate 2 .*did not issue certificate 1/],
    ['expired', { 'c.crt': expired.certPem, 'k.key': expired.keyPem }, /c\.crt: certificate expired on \d{4}-.*renew it/],
    ['not yet valid', { 'c.crt': future.certPem, 'k.key': future.keyPem }, /c\.crt: certificate is not valid until \d{4}-/],
  ];
  for (const [why, files, message] of cases) {
    await t.rejects(serve(t, { address: addr(3, 1), files, raw: { tls_certificate_path: 'c.crt', tls_private_key_path: 'k.key' } }), { message }, why);
  }
  const expiredIntermediate = await issueCertificate(pki.root, { commonName: 'old intermediate', isCa: true, notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
  const underOld = await issueCertificate(expiredIntermediate, { dnsNames: ['example.test'], notBefore: new Date(Date.now() - 40 * DAY), notAfter: new Date(Date.now() + 30 * DAY) });
  t.throws(() => loadCertificate({ certPem: underOld.certPem + expiredIntermediate.certPem, keyPem: underOld.keyPem, label: 'x.crt' }), { message: /x\.crt: chain certificate 2 \(CN=old intermediate\) expired on/ });
  // A full chain in the right order loads, in tls_certificates too, and names the entry's key.
  const ok = await serve(t, {
    address: addr(3, 2),
    files: { 'c.crt': chained.chainPem, 'k.key': chained.keyPem, 'bad.crt': leaf.certPem, 'bad.key': other.keyPem },
    raw: { tls_certificate_path: 'c.crt', tls_private_key_path: 'k.key' },
  });
  t.equal(ok.server.certificates?.entries()[0]?.chain.length, 2, 'leaf plus intermediate served');
  t.ok((await probeTls({ host: addr(3, 2), port: 8448, ca: pki.root.certPem, servername: 'chain.example.test' })).authorized, 'client builds the chain to the root');
  await t.rejects(
    serve(t, { address: addr(3, 3), files: { 'c.crt': leaf.certPem, 'k.key': leaf.keyPem }, raw: { tls_certificate_path: 'c.crt', tls_private_key_path: 'k.key', tls_certificates: [{ certificate_path: 'nope.crt', private_key_path: 'nope.key' }] } }),
    { message: /nope\.crt: cannot read certificate \(tls_certificates\[0\]\): ENOENT/ },
  );
});

t.test('start-up warns about a certificate expiring within 14 days and hosts no certificate covers', async (t) => {
  const soon = await issueCertificate(pki.root, { dnsNames: ['example.test'], notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 5 * DAY + 3600_000) });
  const s = await serve(t, {
    address: addr(4, 1),
    files: { 'c.crt': soon.certPem, 'k.key': soon.keyPem },
    raw: { server_name: 'example.test:8448', public_baseurl: 'https://matrix.example.test', tls_certificate_path: 'c.crt', tls_private_key_path: 'k.key' },
  });
  const warnings = s.lines().filter((l) => l.level === 40).map((l) => String(l.msg));
  t.match(warnings, [/c\.crt: certificate expires on .* \(in 5 days\): renew it/, /no configured certificate covers matrix\.example\.test .*get .*c\.crt/]);
  t.equal(warnings.length, 2, 'example.test itself is covered');
});

t.test('the store: lookups, coverage, refusal of an empty set', async (t) => {
  const [a, b] = await Promise.all([pki.leaf(['a.test', '127.10.9.9']), pki.leaf(['*.b.test'])]);
  const ea = loadCertificate({ certPem: a.certPem, keyPem: a.keyPem, label: 'a' });
  const eb = loadCertificate({ certPem: b.certPem, keyPem: b.keyPem, label: 'b' });
  t.ok(covers(ea, '127.10.9.9') && !covers(ea, '127.10.9.8'), 'IP SANs');
  t.ok(covers(eb, 'x.B.test') && !covers(eb, 'b.test'), 'wildcards');
  t.equal(expiryWarning(ea, Date.now()), undefined, 'no warning a month out');
  t.match(expiryWarning(ea, ea.notAfter - 2 * DAY_MS), /in 2 days/);
  t.match(expiryWarning(ea, ea.notAfter + DAY_MS), /in 0 days/, 'already expired still says when');
  t.throws(() => createCertificateStore([]), /at least one certificate/);
  const store = createCertificateStore([ea, eb]);
  t.equal(store.minVersion, 'TLSv1.2');
  t.equal(store.select('y.b.test'), eb);
  t.equal(store.select('nodot'), ea);
  t.throws(() => store.replace([]), /at least one certificate/);
  store.replace([eb, ea]);
  t.equal(store.select(undefined), eb, 'replace swaps the default');
});
