// `fedpeer generate-config`: a commented homeserver.yaml and a new signing
// key, as Synapse's --generate-config does; it never overwrites either file.
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { parseServerName } from '../matrix/server-name.js';
import { formatSigningKeys, generateSigningKey } from '../matrix/signing-key.js';
import { UsageError, type CommandIO } from './io.js';

export function configTemplate(serverName: string, signingKeyFile: string): string {
  const host = parseServerName(serverName).host;
  return `# fedpeer configuration for ${serverName}: a Synapse homeserver.yaml subset.
# Synapse keys fedpeer does not use may stay; they are listed at debug level.
# Durations: 500 (ms), 30s, 5m, 2h, 1d, 1w, 1y. Sizes: 64K, 10M.

# The name in user ids (@alice:${serverName}). Never change it later.
server_name: "${serverName}"

# Ed25519 signing key in Synapse's format. Back it up; rotate by moving the
# old key to old_signing_keys (see docs/OPERATIONS.md).
signing_key_path: "${signingKeyFile}"
# old_signing_keys:
#   "ed25519:a_old": {key: "<base64 public key>", expired_ts: 1700000000000}
key_refresh_interval: 1d

# TLS: one certificate (Synapse's keys) and/or several chosen by SNI.
tls_certificate_path: "/etc/fedpeer/tls/${host}.crt"
tls_private_key_path: "/etc/fedpeer/tls/${host}.key"
# tls_certificates:
#   - {certificate_path: /etc/fedpeer/tls/hs.${host}.crt, private_key_path: /etc/fedpeer/tls/hs.${host}.key}
tls_minimum_version: "1.2"

listeners:
  # Federation and keys on 8448, with TLS terminated by fedpeer.
  - port: 8448
    bind_addresses: ['::', '0.0.0.0']
    type: http
    tls: true
    x_forwarded: false
    resources:
      - names: [federation, keys]
  # Behind a reverse proxy instead: tls: false, x_forwarded: true, bind to 127.0.0.1.

# Well-known files (/.well-known/matrix/server and /client).
# public_baseurl: "https://${host}/"
# serve_server_wellknown: true
# well_known_server: "hs.${host}:443"

# Outbound federation trust.
federation_verify_certificates: true
# federation_custom_ca_list: [/etc/fedpeer/private-federation-ca.pem]
# federation_certificate_verification_whitelist: ["*.onion"]
# Routes by name or address, first match wins (docs/FEDERATION.md#routes,
# docs/ONION.md): .onion names through Tor, never looked up in local DNS.
# federation_routes:
#   - match: ["*.onion"]
#     via: "socks5h://127.0.0.1:9050"
#     trust: none
#     isolate: true
federation_client_minimum_tls_version: "1.2"
# ip_range_blacklist: Synapse's default list applies when this is absent.

# Keys of other servers are cached under data_dir.
data_dir: "data"
# trusted_key_servers: [{server_name: "matrix.org"}]   # fedpeer's default is none

# Users this peer answers profile queries for.
# test_users:
#   "@alice:${serverName}": {displayname: "Alice"}

# pid_file: /run/fedpeer/fedpeer.pid
`;
}

export async function generateConfigCommand(io: CommandIO, opts: { serverName?: string; out?: string }): Promise<number> {
  if (!opts.serverName) throw new UsageError('generate-config needs --server-name NAME');
  try {
    parseServerName(opts.serverName);
  } catch (e) {
    throw new UsageError(`--server-name: ${(e as Error).message}`);
  }
  const configPath = resolve(opts.out ?? 'homeserver.yaml');
  const dir = dirname(configPath);
  const keyFile = `${parseServerName(opts.serverName).host}.signing.key`;
  const keyPath = join(dir, keyFile);
  await mkdir(dir, { recursive: true });
  const key = generateSigningKey();
  // Both files are created exclusively: an existing one is never replaced.
  try {
    await writeFile(keyPath, formatSigningKeys([key]), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`refusing to overwrite existing signing key ${keyPath}`, 1);
    throw e;
  }
  try {
    await writeFile(configPath, configTemplate(opts.serverName, keyFile), { mode: 0o644, flag: 'wx' });
  } catch (e) {
    const { rm } = await import('node:fs/promises');
    await rm(keyPath, { force: true });
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`refusing to overwrite existing config ${configPath}`, 1);
    throw e;
  }
  // The path as it is reached from here, so the hint works when pasted.
  const fromHere = relative(process.cwd(), configPath);
  const shown = fromHere === '' || fromHere.startsWith('..') ? configPath : fromHere;
  io.stderr(`wrote ${configPath} and ${keyPath} (${key.keyId}); edit the TLS paths, then: fedpeer serve --config ${shown}`);
  return 0;
}
