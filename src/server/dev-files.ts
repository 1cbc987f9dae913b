// The development peer's files (`fedpeer serve` without a config): a
// signing key, a development CA and a certificate for the names served,
// under keys/, made on first run and reused after. A certificate that no
// longer covers the names asked for, has expired or expires within a day is
// reissued from the same CA, so a long-lived checkout keeps working.
// `fedpeer dev-cert` issues more certificates from the same CA.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCa, issueCertificate, type CertificateAndKey } from './dev-ca.js';
import { formatSigningKeys, generateSigningKey } from '../matrix/signing-key.js';

export interface DevNames {
  dnsNames: string[];
  ipAddresses: string[];
}

/** What the embedded default serves: localhost by name and by both loopback addresses. */
export const DEFAULT_DEV_NAMES: DevNames = Object.freeze({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] }) as DevNames;

export interface DevFiles {
  signingKeyPath: string;
  caCertPath: string;
  certPath: string;
  keyPath: string;
  names: DevNames;
  created: string[];
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function writeSecret(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600, flag: 'wx' });
}

/** A file name made from a server name or host: `fed.test:8448` -> `fed.test_8448`, `[::1]` -> `__1_`. */
export function devFileStem(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]/g, '_');
}

/** Splits names into DNS names and IP addresses (brackets dropped), each once. */
export function devNames(names: readonly string[]): DevNames {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const raw of names) {
    const name = raw.replace(/^\[(.*)\]$/, '$1');
    const list = isIP(name) === 0 ? dnsNames : ipAddresses;
    const value = isIP(name) === 0 ? name.toLowerCase() : name;
    if (!list.includes(value)) list.push(value);
  }
  return { dnsNames, ipAddresses };
}

/** The development CA under `keysDir`, made on first use. */
export async function ensureDevCa(keysDir: string, now: () => number = Date.now): Promise<{ ca: CertificateAndKey; caCertPath: string; created: string[] }> {
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const caCertPath = join(keysDir, 'dev-ca.crt');
  const caKeyPath = join(keysDir, 'dev-ca.key');
  const caCert = await readIfExists(caCertPath);
  const caKey = await readIfExists(caKeyPath);
  if (caCert && caKey) return { ca: { certPem: caCert, keyPem: caKey }, caCertPath, created: [] };
  const ca = await createCa({ commonName: 'fedpeer development CA', notBefore: new Date(now() - HOUR) });
  await writeFile(caCertPath, ca.certPem, { mode: 0o644 });
  await writeFile(caKeyPath, ca.keyPem, { mode: 0o600 });
  return { ca, caCertPath, created: [caCertPath, caKeyPath] };
}

/** Whether the certificate in `pem` names every one of `names` and is good for another day. */
function covers(pem: string, names: DevNames, now: number): boolean {
  const cert = new X509Certificate(pem);
  if (Date.parse(cert.validTo) <= now + DAY) return false;
  return names.dnsNames.every((n) => cert.checkHost(n, { wildcards: false }) !== undefined) && names.ipAddresses.every((ip) => cert.checkIP(ip) !== undefined);
}

export interface DevCertificate {
  certPath: string;
  keyPath: string;
  notAfter: string;
}

/** Issues a certificate for `names` from `ca` into `<keysDir>/<stem>.crt` and `.key`. */
export async function writeDevCertificate(ca: CertificateAndKey, keysDir: string, stem: string, names: DevNames, now: () => number = Date.now): Promise<DevCertificate> {
  const leaf = await issueCertificate(ca, { ...names, notBefore: new Date(now() - HOUR) });
  const certPath = join(keysDir, `${stem}.crt`);
  const keyPath = join(keysDir, `${stem}.key`);
  await writeFile(certPath, leaf.certPem, { mode: 0o644 });
  await writeFile(keyPath, leaf.keyPem, { mode: 0o600 });
  return { certPath, keyPath, notAfter: new X509Certificate(leaf.certPem).validTo };
}

export interface DevFilesOptions {
  now?: () => number;
  /** The names the certificate must carry (default: localhost, 127.0.0.1, ::1). */
  names?: DevNames;
  /** File names: `<stem>.crt`, `<stem>.key` (default `localhost`). */
  certificateStem?: string;
  /** The signing key's file name under keysDir (default `signing.key`). */
  signingKeyFile?: string;
}

export async function ensureDevFiles(keysDir: string, opts: DevFilesOptions = {}): Promise<DevFiles> {
  const now = opts.now ?? Date.now;
  const names = opts.names ?? DEFAULT_DEV_NAMES;
  const { ca, caCertPath, created } = await ensureDevCa(keysDir, now);
  const stem = opts.certificateStem ?? 'localhost';
  const files: DevFiles = {
    signingKeyPath: join(keysDir, opts.signingKeyFile ?? 'signing.key'),
    caCertPath,
    certPath: join(keysDir, `${stem}.crt`),
    keyPath: join(keysDir, `${stem}.key`),
    names,
    created,
  };
  if ((await readIfExists(files.signingKeyPath)) === undefined) {
    await writeSecret(files.signingKeyPath, formatSigningKeys([generateSigningKey()]));
    files.created.push(files.signingKeyPath);
  }
  const leafPem = await readIfExists(files.certPath);
  const fresh = leafPem !== undefined && covers(leafPem, names, now());
  // A CA made just now did not sign the certificate that is there.
  if (!fresh || created.length > 0 || (await readIfExists(files.keyPath)) === undefined) {
    await writeDevCertificate(ca, keysDir, stem, names, now);
    files.created.push(files.certPath, files.keyPath);
  }
  return files;
}
