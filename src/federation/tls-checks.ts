// OpenSSL's and node's TLS error codes -> the stable `check` tokens a
// FederationError carries, shared by every place a handshake can fail.

const TLS_CHECKS: Record<string, string> = {
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate-name',
  CERT_HAS_EXPIRED: 'certificate-expired',
  CERT_NOT_YET_VALID: 'certificate-not-yet-valid',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate-untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate-untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate-untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'certificate-untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'certificate-untrusted',
  CERT_UNTRUSTED: 'certificate-untrusted',
  CERT_SIGNATURE_FAILURE: 'certificate-untrusted',
  CERT_REVOKED: 'certificate-revoked',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'protocol-version',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'protocol-version',
  ERR_SSL_WRONG_VERSION_NUMBER: 'protocol-version',
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'protocol-version',
};

export function tlsCheckOf(code: string | undefined, message = ''): string {
  const known = code && TLS_CHECKS[code];
  if (known) return known;
  // OpenSSL alerts arrive as EPROTO with the reason only in the text.
  if (/protocol version|unsupported protocol|no protocols available/i.test(message)) return 'protocol-version';
  return 'handshake';
}
