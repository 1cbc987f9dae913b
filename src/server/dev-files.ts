// The embedded defaults' files (`npm start` with no config): a signing key, a
// development CA and a localhost certificate under keys/, made on first run
// and reused after. A leaf that has expired or expires within a day is
// reissued from the same CA, so a long-lived checkout keeps working.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueCertificate, type CertificateAndKey } from './dev-ca.js';
import { formatSigningKeys, generateSigningKey } from '../matrix/signing-key.js';

export interface DevFiles {
  signingKeyPath: string;
  caCertPath: string;
  certPath: string;
  keyPath: string;
  created: string[];
}

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

export async function ensureDevFiles(keysDir: string, now: () => number = Date.now): Promise<DevFiles> {
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  const files: DevFiles = {
    signingKeyPath: join(keysDir, 'signing.key'),
    caCertPath: join(keysDir, 'dev-ca.crt'),
    certPath: join(keysDir, 'localhost.crt'),
    keyPath: join(keysDir, 'localhost.key'),
    created: [],
  };
  if ((await readIfExists(files.signingKeyPath)) === undefined) {
    await writeSecret(files.signingKeyPath, formatSigningKeys([generateSigningKey()]));
    files.created.push(files.signingKeyPath);
  }
  const caKeyPath = join(keysDir, 'dev-ca.key');
  let ca: CertificateAndKey;
  const caCert = await readIfExists(files.caCertPath);
  const caKey = await readIfExists(caKeyPath);
  if (caCert && caKey) {
    ca = { certPem: caCert, keyPem: caKey };
  } else {
    ca = await createCa({ commonName: 'fedpeer development CA', notBefore: new Date(now() - 3600_000) });
    await writeFile(files.caCertPath, ca.certPem, { mode: 0o644 });
    await writeFile(caKeyPath, ca.keyPem, { mode: 0o600 });
    files.created.push(files.caCertPath, caKeyPath);
  }
  const leafPem = await readIfExists(files.certPath);
  const fresh = leafPem !== undefined && Date.parse(new X509Certificate(leafPem).validTo) > now() + 86_400_000;
  if (!fresh || (await readIfExists(files.keyPath)) === undefined) {
    const leaf = await issueCertificate(ca, {
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      notBefore: new Date(now() - 3600_000),
    });
    await writeFile(files.certPath, leaf.certPem, { mode: 0o644 });
    await writeFile(files.keyPath, leaf.keyPem, { mode: 0o600 });
    files.created.push(files.certPath, files.keyPath);
  }
  return files;
}
