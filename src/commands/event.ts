// `fedpeer event sign|id|redact|verify --room-version V`: one event on stdin,
// for conformance work. sign adds `hashes` and `signatures` as Synapse's
// sign_json --sign-event-room-version does; verify runs the format checks,
// the content hash and every required signature, with keys given on the
// command line or fetched through the key store of --config.
import { readFile } from 'node:fs/promises';
import { CanonicalJsonError } from '../matrix/canonical-json.js';
import { parseSigningKeys, publicKeyFromBase64, type SigningKey } from '../matrix/signing-key.js';
import type { VerifyKey } from '../matrix/signing.js';
import type { VerifiedServerKeys } from '../matrix/server-keys.js';
import {
  checkContentHash,
  computeContentHash,
  computeEventId,
  eventCanonicalJson,
  EventFormatError,
  parseEventJson,
  parsePdu,
  redactPdu,
  requiredSignatures,
  roomVersion,
  signPdu,
  supportedRoomVersions,
  verifyEventSignatures,
  type EventKeyLookup,
  type Pdu,
  type RoomEvent,
  type RoomVersion,
} from '../matrix/events/index.js';
import { UsageError, type CommandIO } from './io.js';
import type { OutboundOptions } from './outbound.js';

export interface EventCommandOptions extends OutboundOptions {
  subcommand?: string;
  roomVersion?: string;
  /** sign: the signing key file. */
  key?: string;
  /** sign: the name to sign as; verify: whose key --public-key is (default the sender's server). */
  serverName?: string;
  publicKey?: string;
  keyId?: string;
}

const SUBCOMMANDS = ['sign', 'id', 'redact', 'verify'];

function version(opts: EventCommandOptions): RoomVersion {
  if (opts.roomVersion === undefined) throw new UsageError(`event ${opts.subcommand} needs --room-version V (${supportedRoomVersions().join(', ')})`);
  const v = roomVersion(opts.roomVersion);
  if (!v) throw new UsageError(`--room-version: unknown room version ${JSON.stringify(opts.roomVersion)}; fedpeer knows ${supportedRoomVersions().join(', ')}`);
  return v;
}

async function readEvent(io: CommandIO): Promise<Pdu> {
  let value: unknown;
  try {
    value = parseEventJson(await io.readStdin());
  } catch (e) {
    throw new UsageError(`input is not valid JSON: ${(e as Error).message}`, 1);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('input must be one event, a JSON object', 1);
  return value as Pdu;
}

async function readKeys(file: string): Promise<SigningKey[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--key: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, 1);
  }
  return parseSigningKeys(text, file);
}

/** Canonical JSON work on the input; a value no version can encode is the input's fault. */
function encoding<T>(work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof CanonicalJsonError) throw new UsageError(`input has no canonical JSON form: ${e.message}`, 1);
    if (e instanceof EventFormatError) throw new UsageError(`invalid event: ${e.reason}`, 1);
    throw e;
  }
}

export async function eventCommand(io: CommandIO, opts: EventCommandOptions): Promise<number> {
  if (!opts.subcommand || !SUBCOMMANDS.includes(opts.subcommand)) {
    throw new UsageError(`unknown event subcommand ${JSON.stringify(opts.subcommand ?? '')}; try: fedpeer event sign|id|redact|verify --room-version V`);
  }
  const v = version(opts);
  switch (opts.subcommand) {
    case 'sign': {
      if (!opts.key || !opts.serverName) throw new UsageError('event sign needs --key FILE and --server-name NAME');
      const keys = await readKeys(opts.key);
      let pdu = await readEvent(io);
      // Every key of the file signs, as sign-json does (Synapse's script signs with the first).
      pdu = encoding(() => keys.reduce((p, key) => signPdu(p, v, opts.serverName!, key), pdu));
      io.stdout(eventCanonicalJson(pdu, false));
      return 0;
    }
    case 'id': {
      const pdu = await readEvent(io);
      io.stdout(encoding(() => computeEventId(pdu, v)));
      return 0;
    }
    case 'redact': {
      const pdu = await readEvent(io);
      io.stdout(encoding(() => eventCanonicalJson(redactPdu(pdu, v), false)));
      return 0;
    }
    default:
      return verify(io, opts, v);
  }
}

async function verify(io: CommandIO, opts: EventCommandOptions, v: RoomVersion): Promise<number> {
  if (opts.publicKey === undefined && opts.config === undefined) {
    throw new UsageError('event verify needs keys: --public-key BASE64 --key-id ed25519:ID [--server-name NAME] (the sender\'s server unless NAME says whose), or --config FILE to fetch them');
  }
  let given: { serverName?: string; keyId: string; key: VerifyKey } | undefined;
  if (opts.publicKey !== undefined) {
    if (!opts.keyId) throw new UsageError('--public-key needs --key-id ed25519:ID');
    try {
      given = { keyId: opts.keyId, key: publicKeyFromBase64(opts.publicKey), ...(opts.serverName ? { serverName: opts.serverName } : {}) };
    } catch (e) {
      throw new UsageError(`--public-key: ${(e as Error).message}`);
    }
  }
  const pdu = await readEvent(io);
  let event: RoomEvent;
  try {
    event = parsePdu(pdu, v);
  } catch (e) {
    if (!(e instanceof EventFormatError)) throw e;
    io.stderr(`invalid: ${e.reason}`);
    return 1;
  }
  let lookup: EventKeyLookup;
  if (given) {
    const owner = given.serverName ?? event.origin;
    lookup = (server, keyId) => (server === owner && keyId === given.keyId ? given.key : undefined);
  } else {
    const fetched = await fetchKeys(opts, event);
    if (typeof fetched === 'string') {
      io.stderr(`invalid: ${fetched}`);
      return 1;
    }
    lookup = fetched;
  }
  const result = verifyEventSignatures(event, lookup);
  if (!result.ok) {
    io.stderr(`invalid: ${result.reason}`);
    return 1;
  }
  // Signatures first, then the hash, as the spec orders them: a redacted copy passes the first and fails the second.
  if (!checkContentHash(pdu)) {
    io.stderr(`invalid: content hash: hashes.sha256 is ${JSON.stringify((pdu.hashes as { sha256: string }).sha256)}, the event hashes to ${computeContentHash(pdu)} (changed after signing, or redacted)`);
    return 1;
  }
  const signers = result.verified.map((s) => `${s.serverName} ${s.keyId}`);
  io.stdout(`valid: ${event.eventId} (room version ${v.id}): format, content hash and ${signers.length ? `signatures (${signers.join(', ')})` : 'no required signature (third-party invite)'}`);
  return 0;
}

/** Keys of every required server through the key store of --config: a lookup, or why they could not be had. */
async function fetchKeys(opts: EventCommandOptions, event: RoomEvent): Promise<EventKeyLookup | string> {
  // Loaded here: sign, id and redact start faster without the federation client.
  const [{ pino }, { createPeerServices, outboundConfig }] = await Promise.all([import('pino'), import('./outbound.js')]);
  const config = await outboundConfig(opts);
  const peer = await createPeerServices({
    config,
    logger: pino({ level: 'silent' }),
    persistKeyCache: true,
    ...(opts.dnsServers ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
  });
  const byServer = new Map<string, VerifiedServerKeys>();
  try {
    for (const { serverName } of requiredSignatures(event)) {
      const r = await peer.keyStore.getServerKeys(serverName, { keepStale: true });
      if (!r.keys) {
        const last = r.attempts.at(-1);
        return `no keys for ${serverName}: ${last ? `${last.source}: ${last.error ?? last.checks.filter((c) => !c.ok).map((c) => c.detail).join('; ')}` : 'nothing to ask'}`;
      }
      byServer.set(serverName, r.keys);
    }
  } finally {
    await peer.close();
  }
  return (server, keyId, validAt) => {
    const keys = byServer.get(server);
    const current = keys?.verifyKeys[keyId];
    if (current) return keys!.effectiveValidUntilTs >= validAt ? current.publicKey : undefined;
    const old = keys?.oldVerifyKeys[keyId];
    return old && old.expiredTs >= validAt ? old.publicKey : undefined;
  };
}
