// Defaults that are data rather than a one-word fallback.

/**
 * Synapse's DEFAULT_IP_RANGE_BLOCKLIST (synapse/config/server.py): private,
 * loopback, link-local, test and multicast ranges, used when the file has no
 * `ip_range_blacklist`.
 */
export const DEFAULT_IP_RANGE_BLACKLIST: readonly string[] = Object.freeze([
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '192.0.0.0/24',
  '169.254.0.0/16',
  '192.88.99.0/24',
  '198.18.0.0/15',
  '192.0.2.0/24',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '::1/128',
  'fe80::/10',
  'fc00::/7',
  '2001:db8::/32',
  'ff00::/8',
  'fec0::/10',
]);

/** Synapse blocks these whatever the file says; dialling them reaches this host. */
export const ALWAYS_BLOCKED: readonly string[] = Object.freeze(['0.0.0.0/32', '::/128']);

/**
 * Synapse listens on both because some systems (bindv6only, BSDs) give '::'
 * IPv6 only. fedpeer's embedded default binds 127.0.0.1 instead; that is set
 * in EMBEDDED_DEFAULTS, not here.
 */
export const DEFAULT_BIND_ADDRESSES: readonly string[] = Object.freeze(['::', '0.0.0.0']);

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * The homeserver.yaml fedpeer behaves as if it had read when run without one
 * (`npm start`): a TLS federation listener on loopback, with the key and dev
 * certificate the CLI creates under keys/ on first run (see keys/README.md).
 */
export const EMBEDDED_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  server_name: 'localhost:8448',
  signing_key_path: 'keys/signing.key',
  tls_certificate_path: 'keys/localhost.crt',
  tls_private_key_path: 'keys/localhost.key',
  listeners: [
    {
      port: 8448,
      bind_addresses: ['127.0.0.1'],
      tls: true,
      type: 'http',
      resources: [{ names: ['federation', 'keys'], compress: false }],
    },
  ],
});
