// A self-signed stand-in for a TLS listener that has no certificate yet
// because ACME has not issued one: the listener can start (and the ACME
// listener answer challenges) instead of the server refusing to start. It is
// replaced, without a restart, as soon as ACME stores the real certificate.
import { createCa, issueCertificate } from './dev-ca.js';
import { loadCertificate, type CertificateEntry } from './certificates.js';
import type * as tls from 'node:tls';

export async function placeholderCertificate(names: string[], opts: { minVersion: tls.SecureVersion; now: number }): Promise<CertificateEntry> {
  const notBefore = new Date(opts.now - 3600_000);
  const notAfter = new Date(opts.now + 7 * 24 * 3600_000);
  const ca = await createCa({ commonName: 'fedpeer placeholder (waiting for ACME)', notBefore, notAfter });
  const leaf = await issueCertificate(ca, { dnsNames: names, notBefore, notAfter });
  return loadCertificate({ certPem: leaf.certPem, keyPem: leaf.keyPem, label: 'placeholder certificate (waiting for ACME)' }, opts);
}
