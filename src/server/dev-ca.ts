// A development certificate authority: `fedpeer serve` uses it to make a CA and a
// localhost certificate on first run, and the test harness uses it to build a
// private PKI (trusted and untrusted roots, intermediates, expired leaves).
//
// Keys are ECDSA P-256 made with WebCrypto; certificates are built with
// @peculiar/x509, which needs reflect-metadata loaded before it and a WebCrypto
// provider registered. Every date is a parameter so tests control time.
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

// Node's webcrypto object and the DOM `Crypto` type @peculiar/x509 expects are
// the same thing at run time but not to the type checker.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

// The project compiles without the DOM lib, so WebCrypto types come from node:crypto.
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** PEM certificate plus its PKCS#8 PEM private key. */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

export interface CaOptions {
  commonName: string;
  notBefore?: Date;
  notAfter?: Date;
}

export interface IssueOptions {
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Defaults to the first DNS name, else the first IP address. */
  commonName?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** Issue an intermediate CA (pathLen 0) instead of a server leaf. */
  isCa?: boolean;
}

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const HOUR = 3600_000;
const DAY = 24 * HOUR;
// A little back-dating absorbs clock skew between the machine that issues and the
// machine that verifies; a root lasts ten years, a leaf 397 days (the CA/Browser
// Forum ceiling, which some TLS clients enforce even for private roots).
const BACKDATE = HOUR;
const CA_LIFETIME = 3650 * DAY;
const LEAF_LIFETIME = 397 * DAY;

/** Create a self-signed root CA. */
export async function createCa(options: CaOptions): Promise<CertificateAndKey> {
  const keys = await generateKeys();
  const notBefore = options.notBefore ?? new Date(Date.now() - BACKDATE);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + CA_LIFETIME);
  checkValidity(notBefore, notAfter);
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: distinguishedName(options.commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: signingAlgorithm(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      ski,
      // Self-signed: authority key id = own key id, as `openssl req -x509` writes it.
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportPkcs8(keys.privateKey) };
}

/** Issue a server certificate (or, with isCa, an intermediate CA) signed by `ca`. */
export async function issueCertificate(ca: CertificateAndKey, options: IssueOptions): Promise<CertificateAndKey> {
  const dnsNames = (options.dnsNames ?? []).map((n) => n.toLowerCase());
  const ipAddresses = options.ipAddresses ?? [];
  for (const ip of ipAddresses) {
    if (isIP(ip) === 0) throw new Error(`issueCertificate: not an IP address: ${JSON.stringify(ip)}`);
  }
  const commonName = options.commonName ?? dnsNames[0] ?? ipAddresses[0];
  if (commonName === undefined) {
    throw new Error('issueCertificate: give at least one of dnsNames, ipAddresses or commonName');
  }
  if (!options.isCa && dnsNames.length === 0 && ipAddresses.length === 0) {
    // TLS clients match names against subjectAltName only; a leaf without one is useless.
    throw new Error('issueCertificate: a server certificate needs dnsNames or ipAddresses');
  }

  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importPkcs8(ca.keyPem);
  const keys = await generateKeys();
  const notBefore = options.notBefore ?? new Date(Date.now() - BACKDATE);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + (options.isCa ? CA_LIFETIME : LEAF_LIFETIME));
  checkValidity(notBefore, notAfter);

  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = caSki
    ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey);
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    aki,
  ];
  if (options.isCa) {
    extensions.push(
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
    );
  } else {
    extensions.push(
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
    );
  }
  const san: x509.JsonGeneralNames = [
    ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  if (san.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(san, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: distinguishedName(commonName),
    // The issuer's subject as encoded in its certificate, byte for byte, so chain
    // building matches it exactly.
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: signingAlgorithm(caKey),
    extensions,
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportPkcs8(keys.privateKey) };
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function exportPkcs8(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

// Curves a CA key loaded from disk may use; the key we generate is always P-256.
const CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

async function importPkcs8(keyPem: string): Promise<CryptoKey> {
  // Let OpenSSL parse the PEM (PKCS#8 or SEC1) and tell us the curve, then hand
  // WebCrypto normalised PKCS#8 DER.
  const keyObject = createPrivateKey(keyPem);
  const curve = keyObject.asymmetricKeyDetails?.namedCurve;
  const params = curve === undefined ? undefined : CURVES[curve];
  if (keyObject.asymmetricKeyType !== 'ec' || params === undefined) {
    throw new Error(
      `CA key: unsupported key type ${keyObject.asymmetricKeyType ?? '?'}${curve ? ` (${curve})` : ''}; ` +
        'use an ECDSA P-256, P-384 or P-521 key',
    );
  }
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: params.namedCurve }, false, ['sign']);
}

function signingAlgorithm(key: CryptoKey): webcrypto.EcdsaParams {
  const curve = (key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve;
  const hash = Object.values(CURVES).find((c) => c.namedCurve === curve)?.hash ?? 'SHA-256';
  return { name: 'ECDSA', hash };
}

function distinguishedName(commonName: string): x509.Name {
  // The object form stores the text as given; plain strings, even in the JSON
  // form, are parsed for DN quoting and escapes ('Dev CA, "x"' would become 'x').
  return new x509.Name([{ CN: [{ utf8String: commonName }] }]);
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280 4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

// @peculiar/x509 ends PEM without a newline; files and concatenated chains want one.
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function checkValidity(notBefore: Date, notAfter: Date): void {
  if (!(notBefore.getTime() < notAfter.getTime())) {
    throw new Error(`certificate validity: notBefore ${notBefore.toISOString()} is not before notAfter ${notAfter.toISOString()}`);
  }
}
