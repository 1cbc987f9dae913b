// The event format of each room version (spec: the PDU schemas pdu_v1, v3,
// v4, v6, v11 and "Size limits"; Synapse's event_from_pdu_json,
// _check_size_limits and _sanity_check_event; gomatrixserverlib's
// CheckFields). parsePdu is the only way to a RoomEvent, so holding one means
// these checks passed.
import { CanonicalJsonError, type JsonObject, type JsonValue } from '../canonical-json.js';
import { digestPdu } from './encoding.js';
import { EventFormatError } from './errors.js';
import { isJsonObject, JsonNumberLiteral } from './event-json.js';
import { eventIdFromReferenceHash } from './hashes.js';
import { codePointLength, domainOf, HASH_EVENT_ID_V3, HASH_EVENT_ID_V4, idProblem } from './ids.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu, RoomEvent } from './types.js';

export const MAX_PDU_BYTES = 65_536;
export const MAX_ID_BYTES = 255;
export const MAX_PREV_EVENTS = 20;
export const MAX_AUTH_EVENTS = 10;
/** Synapse's MAX_DEPTH (2^63 - 1); in v6+ canonical JSON caps depth at 2^53 - 1 first. */
const MAX_DEPTH = 2n ** 63n - 1n;

function fail(reason: string, opts?: { persistAsRejected?: boolean }): never {
  throw new EventFormatError(reason, opts);
}

function requireString(pdu: Pdu, key: string): string {
  const v = pdu[key];
  if (v === undefined) fail(`${key}: missing`);
  if (typeof v !== 'string') fail(`${key}: must be a string`);
  return v;
}

/** The 255-byte limit; within 255 code points in v1-10, Synapse keeps the event as rejected instead of dropping it. */
function checkLength(key: string, value: string, version: RoomVersion): void {
  if (value.length <= MAX_ID_BYTES / 3) return; // 85 UTF-16 units are at most 255 bytes
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= MAX_ID_BYTES) return;
  fail(`${key}: ${bytes} bytes, more than ${MAX_ID_BYTES}`, { persistAsRejected: version.lenientFieldByteLimits && codePointLength(value) <= MAX_ID_BYTES });
}

function checkId(key: string, value: string, sigil: '@' | '!' | '$', version: RoomVersion): void {
  const problem = idProblem(value, sigil);
  if (problem) fail(`${key}: ${JSON.stringify(value.slice(0, 100))} ${problem}`);
  checkLength(key, value, version);
}

function checkInteger(key: string, v: JsonValue | undefined, min: bigint, max: bigint): number {
  if (v === undefined) fail(`${key}: missing`);
  if (v instanceof JsonNumberLiteral) {
    if (v.isFloat) fail(`${key}: must be an integer, got ${v.source}`);
    const n = BigInt(v.source);
    if (n < min || n > max) fail(`${key}: ${v.source} is out of range`);
    return v.value;
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${key}: must be an integer`);
  if (BigInt(v) < min || BigInt(v) > max) fail(`${key}: ${BigInt(v)} is out of range`);
  return v;
}

/** Event IDs of a reference list: v1/v2 `[event_id, {hashes}]` pairs, later plain IDs in the version's alphabet. */
function references(pdu: Pdu, key: string, max: number, version: RoomVersion): string[] {
  const list = pdu[key];
  if (list === undefined) fail(`${key}: missing`);
  if (!Array.isArray(list)) fail(`${key}: must be an array`);
  if (list.length > max) fail(`${key}: ${list.length} entries, at most ${max} allowed`);
  const ids: string[] = [];
  list.forEach((entry, i) => {
    const where = `${key}[${i}]`;
    if (version.eventFormat === 1) {
      if (!Array.isArray(entry) || entry.length !== 2) fail(`${where}: must be an [event_id, {"sha256": hash}] pair`);
      const [id, hashes] = entry;
      if (typeof id !== 'string' || !id.startsWith('$') || domainOf(id) === undefined) fail(`${where}: must start with a "$event:server" event ID`);
      if (!isJsonObject(hashes)) fail(`${where}: the second element must be a hashes object`);
      if (hashes.sha256 !== undefined && typeof hashes.sha256 !== 'string') fail(`${where}: sha256 must be a string`);
      ids.push(id);
    } else {
      const shape = version.eventFormat === 2 ? HASH_EVENT_ID_V3 : HASH_EVENT_ID_V4;
      if (typeof entry !== 'string' || !shape.test(entry)) {
        fail(`${where}: must be an event ID of room version ${version.id} ("$" and 43 ${version.eventFormat === 2 ? 'standard' : 'URL-safe'} base64 characters)`);
      }
      ids.push(entry);
    }
  });
  return ids;
}

function checkSignatures(v: JsonValue | undefined): void {
  if (v === undefined) fail('signatures: missing');
  if (!isJsonObject(v)) fail('signatures: must be an object');
  for (const [server, sigs] of Object.entries(v)) {
    if (!isJsonObject(sigs)) fail(`signatures.${server}: must be an object of key ID to signature`);
    for (const [keyId, sig] of Object.entries(sigs)) if (typeof sig !== 'string') fail(`signatures.${server}.${keyId}: must be a string`);
  }
}

/**
 * Checks an event's wire format for its room version and returns it typed.
 * Throws EventFormatError naming the field. The PDU is deep-frozen (its
 * hashes and ID are computed here and kept for it, so it must not change);
 * copy it to change it.
 */
export function parsePdu(pdu: unknown, version: RoomVersion): RoomEvent {
  if (!isJsonObject(pdu)) fail('the event must be a JSON object');
  let digest;
  try {
    digest = digestPdu(pdu, version, true);
  } catch (e) {
    if (e instanceof CanonicalJsonError) fail(`${e.path || 'event'}: ${e.path ? e.message.slice(0, -` at ${e.path}`.length) : e.message}`);
    throw e;
  }
  if (digest.size > MAX_PDU_BYTES) fail(`the event is ${digest.size} bytes in canonical JSON, more than ${MAX_PDU_BYTES}`);
  if (version.strictCanonicalJson && digest.strictViolation) {
    const { path, message } = digest.strictViolation;
    fail(`${path}: ${message} (room version ${version.id} allows only integers within ±(2^53-1))`);
  }

  const type = requireString(pdu, 'type');
  checkLength('type', type, version);
  const roomId = requireString(pdu, 'room_id');
  checkId('room_id', roomId, '!', version);
  const sender = requireString(pdu, 'sender');
  checkId('sender', sender, '@', version);
  let stateKey: string | undefined;
  if (pdu.state_key !== undefined) {
    stateKey = requireString(pdu, 'state_key');
    checkLength('state_key', stateKey, version);
  }
  const content = pdu.content;
  if (content === undefined) fail('content: missing');
  if (!isJsonObject(content)) fail('content: must be an object');
  const depth = checkInteger('depth', pdu.depth, 0n, MAX_DEPTH);
  const originServerTs = checkInteger('origin_server_ts', pdu.origin_server_ts, BigInt(Number.MIN_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER));
  const hashes = pdu.hashes;
  if (hashes === undefined) fail('hashes: missing');
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== 'string') fail('hashes: must be an object with a "sha256" string');
  checkSignatures(pdu.signatures);
  const prevEvents = references(pdu, 'prev_events', MAX_PREV_EVENTS, version);
  const authEvents = references(pdu, 'auth_events', MAX_AUTH_EVENTS, version);

  let eventId: string;
  if (version.eventFormat === 1) {
    eventId = requireString(pdu, 'event_id');
    checkId('event_id', eventId, '$', version);
  } else {
    // Synapse refuses these outright; gomatrixserverlib drops the key. Hashing it in would give another ID.
    if (pdu.event_id !== undefined) fail(`event_id: not allowed in room version ${version.id}, where the ID is the reference hash`);
    eventId = eventIdFromReferenceHash(digest.referenceHash, version);
  }

  let redacts: string | undefined;
  const redactsValue = version.redactsInContent ? content.redacts : pdu.redacts;
  if (redactsValue !== undefined) {
    if (typeof redactsValue !== 'string') fail(`${version.redactsInContent ? 'content.redacts' : 'redacts'}: must be an event ID string`);
    redacts = redactsValue;
  }

  // A restricted join names the server that authorised it, whose signature it then needs: that must be a user ID.
  const authoriser = content.join_authorised_via_users_server;
  if (version.restrictedJoinRule && type === 'm.room.member' && content.membership === 'join' && authoriser !== undefined) {
    if (typeof authoriser !== 'string') fail('content.join_authorised_via_users_server: must be a user ID string');
    const problem = idProblem(authoriser, '@');
    if (problem) fail(`content.join_authorised_via_users_server: ${JSON.stringify(authoriser.slice(0, 100))} ${problem}`);
  }

  return Object.freeze({
    eventId,
    roomId,
    type,
    stateKey,
    sender,
    origin: domainOf(sender)!,
    content,
    prevEvents: Object.freeze(prevEvents),
    authEvents: Object.freeze(authEvents),
    depth,
    originServerTs,
    redacts,
    roomVersion: version,
    pdu,
  });
}

/**
 * An event parsePdu accepted before (and the caller stored), read back with
 * the ID it had then: the fields only, without canonical JSON, hashes or
 * checks, which cost most of a parse and told nothing new. Its digest is
 * computed when something needs it (redactedDigest). Never for input.
 */
export function parseStoredPdu(pdu: Pdu, version: RoomVersion, eventId: string): RoomEvent {
  const ids = (key: string): readonly string[] => {
    const list = pdu[key];
    return Object.freeze(Array.isArray(list) ? list.map((r) => (Array.isArray(r) ? r[0] : r) as string) : []);
  };
  const content = pdu.content as JsonObject;
  const sender = pdu.sender as string;
  const redacts = version.redactsInContent ? content.redacts : pdu.redacts;
  return Object.freeze({
    eventId,
    roomId: pdu.room_id as string,
    type: pdu.type as string,
    stateKey: pdu.state_key as string | undefined,
    sender,
    origin: domainOf(sender)!,
    content,
    prevEvents: ids('prev_events'),
    authEvents: ids('auth_events'),
    depth: pdu.depth as number,
    originServerTs: pdu.origin_server_ts as number,
    redacts: typeof redacts === 'string' ? redacts : undefined,
    roomVersion: version,
    pdu,
  });
}
