// `fedpeer serve` without a config: a development peer under any name in
// one command. The embedded defaults, with the server name, bind address and
// port asked for, a signing key per name, and a certificate from the
// development CA for the names served. It trusts that CA for its own
// outbound requests too, so two development peers (or a homeserver given a
// `fedpeer dev-cert` certificate) federate with each other.
import * as net from 'node:net';
import { relative, resolve } from 'node:path';
import { ALWAYS_BLOCKED } from '../config/defaults.js';
import { defaultConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { parseServerName } from '../matrix/server-name.js';
import { DEFAULT_DEV_NAMES, devFileStem, devNames, ensureDevFiles, type DevFiles } from '../server/dev-files.js';
import type { BoundServer } from '../server/listeners.js';
import { UsageError } from './io.js';

export interface DevPeerOptions {
  keysDir?: string;
  /** Default `localhost:<port>`. */
  serverName?: string;
  /** Default 127.0.0.1. */
  bind?: string;
  /** Default: the server name's port, else 8448; 0 picks a free one. */
  port?: number;
  /** Outbound requests may reach loopback and private addresses (a homeserver beside it). */
  allowPrivate?: boolean;
}

export interface DevPeer {
  config: Config;
  files: DevFiles;
  /** What to tell the user once the listener is bound. */
  describe(bound: readonly BoundServer[]): string;
}

const DEFAULT_PORT = 8448;
const UNSPECIFIED = new Set(['0.0.0.0', '::']);

/** A port free on `host` right now: the OS picks it, it is released, then bound again by the server. */
async function freePort(host: string): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((done, fail) => {
    probe.once('error', fail);
    probe.listen({ port: 0, host, exclusive: true }, done);
  });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

function parsePort(port: number | undefined): number | undefined {
  if (port === undefined) return undefined;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected 0 (any free port) or 1-65535, got ${port}`);
  return port;
}

export async function devPeer(opts: DevPeerOptions): Promise<DevPeer> {
  const bind = opts.bind ?? '127.0.0.1';
  if (net.isIP(bind) === 0) throw new UsageError(`--bind: expected an IP address such as 127.0.0.1, ::1 or 0.0.0.0, got ${JSON.stringify(bind)}`);
  let given: ReturnType<typeof parseServerName> | undefined;
  if (opts.serverName !== undefined) {
    try {
      given = parseServerName(opts.serverName);
    } catch (e) {
      throw new UsageError(`--server-name: ${(e as Error).message}`);
    }
  }
  let port = parsePort(opts.port) ?? given?.port ?? DEFAULT_PORT;
  // Picked before binding: the default server name carries the port, and listeners name real ports.
  if (port === 0) port = await freePort(bind);
  const serverName = opts.serverName ?? `localhost:${port}`;
  const host = given?.host ?? 'localhost';
  const names = devNames([host, ...DEFAULT_DEV_NAMES.dnsNames, ...DEFAULT_DEV_NAMES.ipAddresses, ...(UNSPECIFIED.has(bind) ? [] : [bind])]);
  const keysDir = resolve(opts.keysDir ?? 'keys');
  const named = opts.serverName !== undefined;
  const files = await ensureDevFiles(keysDir, {
    names,
    certificateStem: devFileStem(host),
    signingKeyFile: named ? `${devFileStem(serverName)}.signing.key` : 'signing.key',
  });
  const config = defaultConfig({
    baseDir: process.cwd(),
    raw: {
      server_name: serverName,
      signing_key_path: files.signingKeyPath,
      tls_certificate_path: files.certPath,
      tls_private_key_path: files.keyPath,
      listeners: [{ port, bind_addresses: [bind], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'], compress: false }] }],
      federation_custom_ca_list: [files.caCertPath],
      federation_custom_ca_mode: 'append',
      ...(opts.allowPrivate ? { ip_range_blacklist: [...ALWAYS_BLOCKED] } : {}),
    },
  });
  const rel = (p: string) => relative(process.cwd(), p) || p;
  const ca = rel(files.caCertPath);
  return {
    config,
    files,
    describe(bound) {
      const first = bound.find((b) => typeof b.address !== 'string');
      const boundPort = first && typeof first.address !== 'string' ? first.address.port : port;
      const urlHost = given?.kind === 'ipv6' ? `[${host}]` : host;
      const dialled = UNSPECIFIED.has(bind) ? '127.0.0.1' : bind;
      // A name only this machine's certificate knows: curl is told where it is, and check needs DNS or /etc/hosts.
      const local = host === 'localhost' || given?.kind !== 'dns';
      const resolveFlag = local ? '' : ` --resolve ${host}:${boundPort}:${dialled.includes(':') ? `[${dialled}]` : dialled}`;
      return [
        `fedpeer: no --config given, serving a development peer: server_name ${serverName} on https://${bind.includes(':') ? `[${bind}]` : bind}:${boundPort}`,
        `  signing key ${rel(files.signingKeyPath)}, certificate ${rel(files.certPath)} for ${[...names.dnsNames, ...names.ipAddresses].join(', ')} from the dev CA ${ca}`,
        `  try: curl --cacert ${ca}${resolveFlag} https://${urlHost}:${boundPort}/_matrix/key/v2/server`,
        `       fedpeer check ${serverName} --allow-private --ca-file ${ca}${local ? '' : ` (once ${host} resolves to ${dialled}: DNS or /etc/hosts)`}`,
      ].join('\n');
    },
  };
}
