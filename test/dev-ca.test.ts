import t from 'tap';
import 'reflect-metadata';
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { createCa, issueCertificate } from '../src/server/dev-ca.js';
import { block } from './harness/addresses.js';

// Harness self-tests share 127.2; dev-ca.test.ts owns 127.2.3.x (see addresses.ts).
const addr = (d: number): string => block('harness')(3, d);

const DAY = 24 * 3600_000;
const notBefore = new Date(Date.UTC(2030, 0, 1));
const notAfter = new Date(Date.UTC(2031, 0, 1));
const during = new Date(Date.UTC(2030, 5, 1));

t.test('createCa makes a self-signed P-256 root with the dates given', async (t) => {
  const ca = await createCa({ commonName: 'Dev CA, "fedpeer"', notBefore, notAfter });
  const cert = new X509Certificate(ca.certPem);
  t.same(new x509.X509Certificate(ca.certPem).subjectName.getField('CN'), ['Dev CA, "fedpeer"'], 'CN stored as given');
  t.equal(cert.issuer, cert.subject);
  t.ok(cert.ca, 'basicConstraints CA');
  t.ok(cert.verify(cert.publicKey), 'self-signed');
  t.equal(new Date(cert.validFrom).getTime(), notBefore.getTime());
  t.equal(new Date(cert.validTo).getTime(), notAfter.getTime());
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/, 'PKCS#8 PEM');
  t.match(ca.certPem, /-----END CERTIFICATE-----\n$/, 'ends with a newline, so PEMs concatenate');
  const key = createPrivateKey(ca.keyPem);
  t.equal(key.asymmetricKeyType, 'ec');
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(
    createPublicKey(key).export({ format: 'der', type: 'spki' }).toString('hex'),
    cert.publicKey.export({ format: 'der', type: 'spki' }).toString('hex'),
    'key matches certificate',
  );
  const parsed = new x509.X509Certificate(ca.certPem);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  t.ok(ku && ku.usages & x509.KeyUsageFlags.keyCertSign, 'keyCertSign');
  t.ok(parsed.getExtension(x509.SubjectKeyIdentifierExtension), 'SKI');
});

t.test('createCa defaults to valid now', async (t) => {
  const ca = await createCa({ commonName: 'now' });
  const cert = new X509Certificate(ca.certPem);
  t.ok(new Date(cert.validFrom).getTime() <= Date.now());
  t.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * DAY);
});

t.test('issueCertificate makes a server leaf', async (t) => {
  const ca = await createCa({ commonName: 'Root', notBefore, notAfter });
  const leaf = await issueCertificate(ca, {
    dnsNames: ['Example.ORG', '*.example.org'],
    ipAddresses: ['127.2.3.1', '::1'],
    notBefore,
    notAfter: new Date(notBefore.getTime() + 30 * DAY),
  });
  const cert = new X509Certificate(leaf.certPem);
  const caCert = new X509Certificate(ca.certPem);
  t.equal(cert.checkHost('example.org'), 'example.org', 'names stored lower-case, matched case-insensitively');
  t.equal(cert.checkHost('matrix.example.org'), '*.example.org', 'wildcard');
  t.equal(cert.checkHost('a.b.example.org'), undefined, 'wildcard covers one label');
  t.equal(cert.checkHost('example.com'), undefined);
  t.equal(cert.checkIP('127.2.3.1'), '127.2.3.1');
  t.equal(cert.checkIP('::1'), '::1');
  t.equal(cert.checkIP('127.2.3.2'), undefined);
  t.ok(cert.verify(caCert.publicKey), 'signed by the CA');
  t.ok(cert.checkIssued(caCert), 'issuer name and AKI match the CA');
  t.notOk(cert.ca);
  t.equal(cert.subject, 'CN=example.org', 'CN defaults to the first DNS name');
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'EKU serverAuth');

  const parsed = new x509.X509Certificate(leaf.certPem);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  t.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
  t.ok(ku?.critical);
  const caSki = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension);
  t.equal(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caSki?.keyId, 'AKI = CA SKI');
  t.ok(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId, 'SKI');
  t.equal(parsed.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  t.equal(new Date(cert.validTo).getTime(), notBefore.getTime() + 30 * DAY);

  const again = await issueCertificate(ca, { dnsNames: ['example.org'], notBefore, notAfter });
  t.not(new X509Certificate(again.certPem).serialNumber, cert.serialNumber, 'random serials');
  t.notMatch(cert.serialNumber, /^(00|[89A-F])/, 'serial positive, no leading zero byte');
});

t.test('leaf with only IP addresses', async (t) => {
  const ca = await createCa({ commonName: 'Root' });
  const leaf = await issueCertificate(ca, { ipAddresses: ['127.2.3.9'] });
  const cert = new X509Certificate(leaf.certPem);
  t.equal(cert.subject, 'CN=127.2.3.9');
  t.equal(cert.checkIP('127.2.3.9'), '127.2.3.9');
  t.equal(cert.checkHost('localhost'), undefined);
});

t.test('intermediates chain: root -> intermediate -> leaf', async (t) => {
  const root = await createCa({ commonName: 'Root', notBefore, notAfter });
  const inter = await issueCertificate(root, { commonName: 'Intermediate', isCa: true, notBefore, notAfter });
  const leaf = await issueCertificate(inter, { dnsNames: ['leaf.test'], notBefore, notAfter });
  const [r, i, l] = [root, inter, leaf].map((c) => new X509Certificate(c.certPem)) as [X509Certificate, X509Certificate, X509Certificate];
  t.ok(i.ca, 'intermediate is a CA');
  t.equal(new x509.X509Certificate(inter.certPem).getExtension(x509.BasicConstraintsExtension)?.pathLength, 0);
  t.equal(new x509.X509Certificate(inter.certPem).getExtension(x509.ExtendedKeyUsageExtension), null, 'no EKU on a CA');
  t.ok(i.verify(r.publicKey) && i.checkIssued(r));
  t.ok(l.verify(i.publicKey) && l.checkIssued(i));
  t.notOk(l.verify(r.publicKey), 'leaf is not signed by the root');

  // The same chain as a real verifier walks it.
  const chain = await new x509.X509ChainBuilder({
    certificates: [new x509.X509Certificate(inter.certPem), new x509.X509Certificate(root.certPem)],
  }).build(new x509.X509Certificate(leaf.certPem));
  t.equal(chain.length, 3);
  t.ok(await new x509.X509Certificate(leaf.certPem).verify({ publicKey: new x509.X509Certificate(inter.certPem), date: during }));
});

t.test('a CA key in SEC1 PEM form is accepted too', async (t) => {
  const root = await createCa({ commonName: 'Root' });
  const sec1 = createPrivateKey(root.keyPem).export({ format: 'pem', type: 'sec1' }).toString();
  t.match(sec1, /BEGIN EC PRIVATE KEY/);
  const leaf = await issueCertificate({ certPem: root.certPem, keyPem: sec1 }, { dnsNames: ['sec1.test'] });
  t.ok(new X509Certificate(leaf.certPem).verify(new X509Certificate(root.certPem).publicKey));
});

t.test('errors name the problem', async (t) => {
  const ca = await createCa({ commonName: 'Root' });
  await t.rejects(issueCertificate(ca, {}), /at least one of dnsNames, ipAddresses or commonName/);
  await t.rejects(issueCertificate(ca, { commonName: 'x' }), /needs dnsNames or ipAddresses/);
  await t.rejects(issueCertificate(ca, { ipAddresses: ['example.org'] }), /not an IP address: "example.org"/);
  await t.rejects(createCa({ commonName: 'x', notBefore: notAfter, notAfter: notBefore }), /notBefore .* is not before notAfter/);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await t.rejects(issueCertificate({ certPem: ca.certPem, keyPem: rsa }, { dnsNames: ['x.test'] }), /unsupported key type rsa/);
});

t.test('a TLS client trusting the CA accepts the leaf on a real socket', async (t) => {
  const ca = await createCa({ commonName: 'Root' });
  const leaf = await issueCertificate(ca, { dnsNames: ['dev.test'], ipAddresses: [addr(1)] });
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end('hi'));
  await new Promise<void>((done) => server.listen(0, addr(1), done));
  t.teardown(() => new Promise<void>((done) => server.close(() => done())));
  const { port } = server.address() as AddressInfo;

  const handshake = (opts: { servername?: string; ca?: string }): Promise<TLSSocket> =>
    new Promise((done, fail) => {
      const socket = connect({ host: addr(1), port, ...opts }, () => done(socket));
      socket.on('error', fail);
    });
  const byName = await handshake({ servername: 'dev.test', ca: ca.certPem });
  t.ok(byName.authorized, 'by DNS name');
  byName.destroy();
  const byIp = await handshake({ ca: ca.certPem });
  t.ok(byIp.authorized, 'by IP SAN');
  byIp.destroy();
  await t.rejects(handshake({ servername: 'dev.test' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'not trusted without the CA');
});
