// Event hashing and signing (spec appendix "Signing events"), with the
// redaction algorithm of room versions 1 to 10. fedpeer does not take part in
// rooms; this exists so conformance runs can sign and check test events the
// way a homeserver does, and so the spec's event vectors are reproduced.
import { createHash } from 'node:crypto';
import { canonicalJsonBytes } from './canonical-json.js';
import { encodeBase64 } from './base64.js';
import { signJson, type Signatures } from './signing.js';
import type { SigningKey } from './signing-key.js';

type Obj = Record<string, unknown>;

const KEPT_TOP_LEVEL = [
  'event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures',
  'depth', 'prev_events', 'prev_state', 'auth_events', 'origin', 'origin_server_ts', 'membership',
];

function keptContentKeys(type: unknown, roomVersion: number): string[] {
  switch (type) {
    case 'm.room.member':
      return roomVersion >= 9 ? ['membership', 'join_authorised_via_users_server'] : ['membership'];
    case 'm.room.create':
      return ['creator'];
    case 'm.room.join_rules':
      return roomVersion >= 8 ? ['join_rule', 'allow'] : ['join_rule'];
    case 'm.room.power_levels':
      return ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];
    case 'm.room.aliases':
      return roomVersion <= 5 ? ['aliases'] : [];
    case 'm.room.history_visibility':
      return ['history_visibility'];
    default:
      return [];
  }
}

function pick(obj: Obj, keys: string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(obj, k)) out[k] = obj[k];
  return out;
}

/** The redacted form of an event under room versions 1 to 10. */
export function redactEvent(event: Obj, roomVersion = 10): Obj {
  if (!Number.isInteger(roomVersion) || roomVersion < 1 || roomVersion > 10) {
    throw new Error(`redaction is implemented for room versions 1 to 10, not ${roomVersion}`);
  }
  const out = pick(event, KEPT_TOP_LEVEL);
  const content = typeof event.content === 'object' && event.content !== null ? (event.content as Obj) : {};
  out.content = pick(content, keptContentKeys(event.type, roomVersion));
  return out;
}

/** SHA-256 over the canonical JSON of the event without unsigned, signatures and hashes. */
export function contentHash(event: Obj): string {
  const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = event;
  return encodeBase64(createHash('sha256').update(canonicalJsonBytes(rest)).digest());
}

/** Adds the content hash, then signs the redacted event and attaches the signature to the full one. */
export function signEvent(event: Obj, serverName: string, key: SigningKey, roomVersion = 10): Obj & { signatures: Signatures } {
  const hashed = { ...event, hashes: { sha256: contentHash(event) } };
  const signedRedacted = signJson(redactEvent(hashed, roomVersion), serverName, key);
  return { ...hashed, signatures: signedRedacted.signatures };
}
