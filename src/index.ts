// The library entry point: `import { startPeer } from 'fedpeer'` starts a
// full fedpeer (keys, TLS, federation routes, room peer) from code, with its
// own development CA unless one is given, and returns the handle tests drive
// it with. It is `fedpeer serve` composed from options instead of a file.
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import pino from 'pino';
import { defaultConfig } from './config/load.js';
import type { Config, TestUser } from './config/types.js';
import { startServer, type RunningServer } from './commands/serve.js';
import { createCa, issueCertificate, type CertificateAndKey } from './server/dev-ca.js';
import { formatSigningKeys, generateSigningKey, parseSigningKeys } from './matrix/signing-key.js';
import { federationAnswer, sendTransaction, type FederationAnswer } from './federation/raw-request.js';
import type { RoomPeer } from './rooms/peer.js';
import type { PeerHooks } from './rooms/hooks.js';
import type { RoomLimits } from './rooms/limits.js';
import type { Pdu } from './matrix/events/types.js';

export type { RoomPeer, TimelineEvent, StateEntry } from './rooms/peer.js';
export type { PeerHooks, HookRequest, HookDecision, RequestHook, FederationEndpoint } from './rooms/hooks.js';
export type { BuildEventOptions, BuiltEvent } from './rooms/build-event.js';
export type { CreateRoomOptions } from './rooms/create-room.js';
export type { RoomLimits } from './rooms/limits.js';
export { DEFAULT_ROOM_LIMITS } from './rooms/limits.js';
export type { EventStatus, InviteRecord, ReceivedEdu } from './rooms/store.js';
export type { CertificateAndKey } from './server/dev-ca.js';
export type { Pdu, RoomEvent } from './matrix/events/types.js';
export type { TestUser } from './config/types.js';
export type { FederationAnswer } from './federation/raw-request.js';

export interface StartPeerOptions {
  /** Default `localhost:<port>` when bound to 127.0.0.1, else `<bind address>:<port>`. */
  serverName?: string;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Address to listen on; default 127.0.0.1. */
  bind?: string;
  /** Where the signing key, certificates and the room store live; default a new temporary directory. Reusing one restarts the same peer. */
  dataDir?: string;
  /** Local users: user ID or local part (`alice` is `@alice:<serverName>`) -> profile (`{}` for none). */
  users?: Record<string, TestUser>;
  /**
   * The CA this peer's certificate is issued from (default: a new development
   * CA, or the one a previous start left in dataDir). Give several peers the
   * same one (`createDevCa()`) and they trust each other.
   */
  ca?: CertificateAndKey;
  /** A ready certificate (full chain) and key instead of one issued from `ca`. */
  certificate?: { certPem: string; keyPem: string };
  /** More CA certificates (PEM) outbound connections trust, besides `ca`. */
  trustedCas?: readonly string[];
  /** DNS servers for resolving other servers ("127.0.0.1:5353"); default the system's. */
  dnsServers?: readonly string[];
  /** Address ranges outbound requests may reach despite the default blocklist; default loopback (127.0.0.0/8, ::1). */
  allowedRanges?: readonly string[];
  /** Extra homeserver.yaml keys (anything `fedpeer serve` reads). */
  config?: Record<string, unknown>;
  /** Default: silent. */
  logger?: Logger;
  hooks?: PeerHooks;
  /** Outbound retry: first delay (default 2 s) doubling to at most maxMs (1 h). */
  queueRetry?: { initialMs?: number; maxMs?: number };
  /** Bounds on the work done for other servers (docs/OPERATIONS.md); tests tighten them to measure them quickly. */
  roomLimits?: Partial<RoomLimits>;
  /**
   * Also serve the control API (docs/CONTROL.md) over plain HTTP on `bind`,
   * on a free port unless one is given; `Peer.control` has its URL and token.
   */
  control?: boolean | { port?: number };
}

export interface Peer {
  readonly serverName: string;
  readonly port: number;
  /** `https://<bind>:<port>` */
  readonly url: string;
  readonly dataDir: string;
  /** The CA this peer's certificate chains to (trust it to reach the peer). */
  readonly caPem: string;
  readonly rooms: RoomPeer;
  /** Assign hooks here to observe and override what the peer answers. */
  readonly hooks: PeerHooks;
  createRoom: RoomPeer['createRoom'];
  join: RoomPeer['join'];
  leave: RoomPeer['leave'];
  invite: RoomPeer['invite'];
  send: RoomPeer['send'];
  sendState: RoomPeer['sendState'];
  redact: RoomPeer['redact'];
  events: RoomPeer['events'];
  state: RoomPeer['state'];
  waitForEvent: RoomPeer['waitForEvent'];
  buildEvent: RoomPeer['buildEvent'];
  invites: RoomPeer['invites'];
  /** EDUs received, oldest first. */
  edus(opts?: { type?: string }): Array<{ origin: string; edu: Record<string, unknown> }>;
  /** PUT /_matrix/federation/v1/send/{txnId} to `destination` with these PDUs and EDUs; the answer whatever its status. */
  sendTransaction(destination: string, txn: { pdus?: Pdu[]; edus?: Array<Record<string, unknown>>; txnId?: string }): Promise<FederationAnswer>;
  /** One X-Matrix-signed request; the answer whatever its status (network failures throw). */
  request(destination: string, method: string, path: string, body?: unknown): Promise<FederationAnswer>;
  /** The control API, when started with `control`: base URL (`http://<bind>:<port>`) and bearer token. */
  readonly control?: { url: string; token: string };
  /** The running server underneath (config, key publisher, federation client, ...). */
  readonly server: RunningServer;
  close(): Promise<void>;
}

/** A new development CA (ECDSA P-256) to issue several peers' certificates from, so they trust each other. */
export function createDevCa(commonName = 'fedpeer test CA'): Promise<CertificateAndKey> {
  return createCa({ commonName, notBefore: new Date(Date.now() - 3600_000) });
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

function hostOf(serverName: string): string {
  const m = /^\[([^\]]+)\]|^([^:]+)/.exec(serverName);
  return (m?.[1] ?? m?.[2] ?? serverName).toLowerCase();
}

/** Starts a peer. Every option has a working default: `await startPeer()` is a peer on a free loopback port. */
export async function startPeer(opts: StartPeerOptions = {}): Promise<Peer> {
  const bind = opts.bind ?? '127.0.0.1';
  const port = opts.port !== undefined && opts.port !== 0 ? opts.port : await freePort(bind);
  // localhost for the usual loopback address (its dev certificate names it), else the address itself.
  const serverName = opts.serverName ?? (bind === '127.0.0.1' ? `localhost:${port}` : `${bind.includes(':') ? `[${bind}]` : bind}:${port}`);
  const dataDir = resolve(opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fedpeer-peer-')));
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const keyFile = join(dataDir, 'signing.key');
  if (!existsSync(keyFile)) writeFileSync(keyFile, formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  parseSigningKeys(readFileSync(keyFile, 'utf8'), keyFile);

  const caCertFile = join(dataDir, 'ca.crt');
  const caKeyFile = join(dataDir, 'ca.key');
  let ca = opts.ca;
  if (!ca && existsSync(caCertFile) && existsSync(caKeyFile)) ca = { certPem: readFileSync(caCertFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8') };
  ca ??= await createDevCa();
  writeFileSync(caCertFile, ca.certPem);
  writeFileSync(caKeyFile, ca.keyPem, { mode: 0o600 });
  const host = hostOf(serverName);
  const isIp = /^[\d.]+$/.test(host) || host.includes(':');
  const leaf =
    opts.certificate ??
    (await issueCertificate(ca, {
      ...(isIp ? { ipAddresses: [host] } : { dnsNames: [host] }),
      // localhost is also dialled as 127.0.0.1 / ::1.
      ...(host === 'localhost' ? { ipAddresses: ['127.0.0.1', '::1'] } : {}),
      notBefore: new Date(Date.now() - 3600_000),
    }));
  writeFileSync(join(dataDir, 'tls.crt'), leaf.certPem);
  writeFileSync(join(dataDir, 'tls.key'), leaf.keyPem, { mode: 0o600 });
  const trusted = [ca.certPem, ...(opts.trustedCas ?? [])];
  writeFileSync(join(dataDir, 'trusted-cas.pem'), trusted.join('\n'));

  const controlPort = opts.control ? (typeof opts.control === 'object' && opts.control.port ? opts.control.port : await freePort(bind)) : undefined;
  const config: Config = defaultConfig({
    baseDir: dataDir,
    raw: {
      server_name: serverName,
      signing_key_path: keyFile,
      tls_certificate_path: join(dataDir, 'tls.crt'),
      tls_private_key_path: join(dataDir, 'tls.key'),
      listeners: [
        { port, bind_addresses: [bind], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] },
        ...(controlPort !== undefined ? [{ port: controlPort, bind_addresses: [bind], type: 'control' }] : []),
      ],
      test_users: Object.fromEntries(Object.entries(opts.users ?? {}).map(([id, profile]) => [id.startsWith('@') ? id : `@${id}:${serverName}`, profile])),
      federation_custom_ca_list: [join(dataDir, 'trusted-cas.pem')],
      ip_range_whitelist: [...(opts.allowedRanges ?? ['127.0.0.0/8', '::1/128'])],
      ...(opts.dnsServers ? { federation_dns_servers: [...opts.dnsServers] } : {}),
      data_dir: dataDir,
      ...opts.config,
    },
  });
  const logger = opts.logger ?? pino({ level: 'silent' });
  const server = await startServer(config, {
    logger,
    watchCertificates: false,
    rooms: { ...(opts.hooks ? { hooks: opts.hooks } : {}), ...(opts.queueRetry ? { queueRetry: opts.queueRetry } : {}), ...(opts.roomLimits ? { limits: opts.roomLimits } : {}) },
  });
  const rooms = server.rooms;
  const client = server.peer.client;
  const bracketed = (h: string) => (h.includes(':') ? `[${h}]` : h);

  return {
    serverName,
    port,
    url: `https://${bracketed(bind)}:${port}`,
    dataDir,
    caPem: ca.certPem,
    rooms,
    hooks: rooms.hooks,
    createRoom: (o) => rooms.createRoom(o),
    join: (u, r, o) => rooms.join(u, r, o),
    leave: (u, r) => rooms.leave(u, r),
    invite: (s, r, u) => rooms.invite(s, r, u),
    send: (s, r, c, type) => rooms.send(s, r, c, type),
    sendState: (s, r, type, key, content) => rooms.sendState(s, r, type, key, content),
    redact: (s, r, id, reason) => rooms.redact(s, r, id, reason),
    events: (r, o) => rooms.events(r, o),
    state: (r) => rooms.state(r),
    waitForEvent: (r, p, o) => rooms.waitForEvent(r, p, o),
    buildEvent: (o) => rooms.buildEvent(o),
    invites: (u) => rooms.invites(u),
    edus: (o) => rooms.transactions.edus(o).map(({ origin, edu }) => ({ origin, edu })),
    sendTransaction: (destination, txn) => sendTransaction(client, serverName, destination, txn),
    request: (destination, method, path, body) => federationAnswer(client, destination, method, path, body),
    ...(server.control && controlPort !== undefined ? { control: { url: `http://${bracketed(bind)}:${controlPort}`, token: server.control.token } } : {}),
    server,
    close: () => server.close(1000),
  };
}
