// Certificate/key files -> store entries, for start-up and for every reload.
// At start-up a bad operator file stops the server (it would otherwise serve
// the wrong certificate silently); on reload a bad file keeps the entry that
// file gave before, so a half-written or broken renewal never takes a name
// out of service.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type * as tls from 'node:tls';
import { CertificateError, expiryWarning, loadCertificate, type CertificateEntry } from './certificates.js';

export interface CertificateFiles {
  certificatePath: string;
  privateKeyPath: string;
  /** The config key that named the files ("tls_certificates[1]"), for messages. */
  key: string;
  /** Operator files are required at start-up; ACME's own files are best effort (they get reissued). */
  required: boolean;
}

export interface LoadSetOptions {
  minVersion: tls.SecureVersion;
  now: number;
  logger: Logger;
  /** Entries of the previous load, by certificate path: kept when a file is now broken. */
  previous?: ReadonlyMap<string, CertificateEntry>;
}

async function readPem(path: string, key: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new CertificateError(path, `cannot read ${what} (${key}): ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export async function readCertificateFiles(files: CertificateFiles, opts: { minVersion: tls.SecureVersion; now: number }): Promise<CertificateEntry> {
  // One after the other, so that with both missing the message is always about the certificate.
  const certPem = await readPem(files.certificatePath, files.key, 'certificate');
  const keyPem = await readPem(files.privateKeyPath, files.key, 'private key');
  return loadCertificate({ certPem, keyPem, label: files.certificatePath }, opts);
}

/**
 * Loads every pair in order. Without `previous` (start-up) a broken required
 * pair throws; with it, the error is logged and the previous entry kept.
 * Returns the entries by certificate path, in the order given.
 */
export async function loadCertificateSet(list: readonly CertificateFiles[], opts: LoadSetOptions): Promise<Map<string, CertificateEntry>> {
  const loaded = await Promise.allSettled(list.map((f) => readCertificateFiles(f, opts)));
  const out = new Map<string, CertificateEntry>();
  list.forEach((files, i) => {
    const result = loaded[i]!;
    if (result.status === 'fulfilled') {
      out.set(files.certificatePath, result.value);
      const warning = expiryWarning(result.value, opts.now);
      if (warning) opts.logger.warn({ file: files.certificatePath }, warning);
      return;
    }
    const err = result.reason as Error;
    const kept = opts.previous?.get(files.certificatePath);
    if (opts.previous === undefined && files.required) throw err;
    if (kept) {
      out.set(files.certificatePath, kept);
      opts.logger.error({ file: files.certificatePath, key: files.key }, `${err.message}; the certificate loaded before stays in service`);
    } else {
      opts.logger.error({ file: files.certificatePath, key: files.key }, `${err.message}; skipped`);
    }
  });
  return out;
}
