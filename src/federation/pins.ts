// Certificate pins for `trust: pin` routes: the SHA-256 of the leaf
// certificate (what `openssl x509 -noout -fingerprint -sha256` prints) or
// of its SubjectPublicKeyInfo (`sha256/<base64>`, curl's --pinnedpubkey
// form, which survives a renewal that keeps the key). A pin replaces the
// CA chain and the name check: onion services carry self-signed
// certificates, and the pin is the trust anchor.
import { createHash, type X509Certificate } from 'node:crypto';

export interface PresentedPins {
  /** `AB:CD:…`, upper-case hex. */
  certificate: string;
  /** `sha256/<base64>`. */
  publicKey: string;
}

export function pinsOf(cert: X509Certificate): PresentedPins {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return { certificate: cert.fingerprint256, publicKey: `sha256/${createHash('sha256').update(spki).digest('base64')}` };
}

/** Whether `cert` matches one of `pins` (as the config normalises them), and what it presented. */
export function checkPins(cert: X509Certificate, pins: readonly string[]): { ok: boolean; presented: PresentedPins } {
  const presented = pinsOf(cert);
  return { ok: pins.includes(presented.certificate) || pins.includes(presented.publicKey), presented };
}
