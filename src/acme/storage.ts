// What the built-in ACME client keeps under acme.storage_dir:
//   account.key              the ACME account key (PKCS#8 PEM, 0600)
//   <domain>.crt / .key      each domain's certificate chain and key (key 0600)
// Files are written to a temporary name and renamed into place, so a reader
// (a reload, a crash mid-write) sees the old pair or the new one, never half.
import { generateKeyPair } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

export interface AcmeFiles {
  dir: string;
  accountKeyPath: string;
  certificatePath(domain: string): string;
  privateKeyPath(domain: string): string;
}

export function acmeFiles(storageDir: string): AcmeFiles {
  const dir = resolve(storageDir);
  return {
    dir,
    accountKeyPath: join(dir, 'account.key'),
    certificatePath: (domain) => join(dir, `${domain}.crt`),
    privateKeyPath: (domain) => join(dir, `${domain}.key`),
  };
}

/** A fresh ECDSA P-256 key as PKCS#8 PEM: accepted by every ACME CA and cheap in handshakes. */
export async function newPrivateKey(): Promise<string> {
  const { privateKey } = await generate('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

async function ensureDir(files: AcmeFiles): Promise<void> {
  await mkdir(files.dir, { recursive: true, mode: 0o700 });
}

/** Writes atomically; `mode` is applied before the rename so the file is never readable by others. */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function readOrCreateAccountKey(files: AcmeFiles): Promise<string> {
  try {
    return await readFile(files.accountKeyPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`acme.storage_dir: cannot read the account key ${files.accountKeyPath}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  await ensureDir(files);
  const pem = await newPrivateKey();
  await writeAtomic(files.accountKeyPath, pem, 0o600);
  return pem;
}

export async function writeCertificate(files: AcmeFiles, domain: string, chainPem: string, keyPem: string): Promise<void> {
  await ensureDir(files);
  // Key first: a reader that sees the new certificate must find its key.
  // A reader in between sees a mismatch, is refused, and keeps the old pair.
  await writeAtomic(files.privateKeyPath(domain), keyPem, 0o600);
  await writeAtomic(files.certificatePath(domain), chainPem, 0o644);
}

/**
 * The built-in client never writes over a file the operator names in the
 * config; a storage_dir laid over those files is refused up front.
 */
export function checkStorageOverlap(files: AcmeFiles, domains: readonly string[], operatorFiles: ReadonlyArray<[string, string]>): void {
  const ours = new Set([files.accountKeyPath, ...domains.flatMap((d) => [files.certificatePath(d), files.privateKeyPath(d)])]);
  for (const [key, path] of operatorFiles) {
    if (ours.has(resolve(path))) {
      throw new Error(`acme.storage_dir: the ACME client would write ${path}, which ${key} names; the built-in client never overwrites operator files: choose another acme.storage_dir`);
    }
  }
}
