// An event's canonical JSON, made once. Each top-level value (and each key of
// `content`) is encoded once; the whole PDU (for the size limit), the
// content-hash form and the redacted form (what signatures and the reference
// hash cover) are then joined from those pieces, so an event is walked once
// however many of its forms are needed.
//
// A PDU that parsePdu accepted is frozen and its digest kept in a WeakMap, so
// the hash, ID and signature functions given that same object do no
// canonical JSON work again.
import { createHash } from 'node:crypto';
import { compareCodePoints, type JsonValue } from '../canonical-json.js';
import { encodeBase64 } from '../base64.js';
import { encodeEventValue, isJsonObject, quote, sortedKeys, type EncodeState } from './event-json.js';
import { keptTopLevelKeys, redactContent } from './redaction.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu } from './types.js';

export interface EventParts {
  /** The PDU's keys in code point order. */
  readonly keys: readonly string[];
  readonly top: Map<string, string>;
  /** Each key of `content` encoded, when content is an object. */
  readonly content: Map<string, string> | undefined;
  readonly state: EncodeState;
}

/** Encodes every top-level value once (lenient numbers; `state` notes what the strict rules refuse). Throws CanonicalJsonError. */
export function encodeParts(pdu: Pdu, freeze: boolean): EventParts {
  const state: EncodeState = { freeze };
  const keys = sortedKeys(pdu);
  const top = new Map<string, string>();
  let content: Map<string, string> | undefined;
  // One path stack for the whole walk (encodeEventValue leaves it as it found it).
  const stack: (string | number)[] = [''];
  for (const k of keys) {
    const v = pdu[k];
    stack[0] = k;
    quote(k, stack); // only to refuse a key with no UTF-8 form; joinObject writes the keys
    if (k === 'content' && isJsonObject(v)) {
      content = new Map();
      const contentKeys = sortedKeys(v);
      for (const ck of contentKeys) {
        stack[1] = ck;
        quote(ck, stack);
        content.set(ck, encodeEventValue(v[ck], state, stack));
      }
      stack.length = 1;
      if (freeze) Object.freeze(v);
      top.set(k, joinObject(contentKeys, content));
    } else {
      top.set(k, encodeEventValue(v, state, stack));
    }
  }
  if (freeze) Object.freeze(pdu);
  return { keys, top, content, state };
}

/** The parts with one top-level value (not `content`) set, added or replaced, encoding only that value. */
export function withTopLevel(parts: EventParts, key: string, value: JsonValue): EventParts {
  const top = new Map(parts.top);
  top.set(key, encodeEventValue(value, parts.state, [key]));
  const keys = parts.top.has(key) ? parts.keys : [...parts.keys, key].sort(compareCodePoints);
  return { ...parts, keys, top };
}

/** `{"k":v,...}` from encoded values, for keys already in code point order. */
export function joinObject(keys: readonly string[], parts: ReadonlyMap<string, string>, skip?: ReadonlySet<string>): string {
  let out = '{';
  for (const k of keys) {
    if (skip?.has(k)) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${parts.get(k)!}`;
  }
  return `${out}}`;
}

/** Keys the content hash leaves out: the spec's three, and the legacy keys Synapse and gomatrixserverlib drop too. */
const NOT_HASHED: ReadonlySet<string> = new Set(['unsigned', 'signatures', 'hashes', 'age_ts', 'outlier', 'destinations']);

/** The bytes the content hash covers. */
export function contentHashInput(parts: EventParts): string {
  return joinObject(parts.keys, parts.top, NOT_HASHED);
}

/**
 * The redacted event without `signatures` and `unsigned`: what an event
 * signature covers and what the reference hash hashes.
 */
export function redactedInput(pdu: Pdu, parts: EventParts, version: RoomVersion): string {
  const kept = keptTopLevelKeys(version);
  const content = redactContent(pdu.type, pdu.content, version);
  const original = isJsonObject(pdu.content) ? pdu.content : undefined;
  const contentKeys = sortedKeys(content);
  const contentParts = new Map<string, string>();
  for (const k of contentKeys) {
    // A kept value is the original object, already encoded; only v11's cut-down third_party_invite is new.
    const reused = original !== undefined && original[k] === content[k] ? parts.content?.get(k) : undefined;
    contentParts.set(k, reused ?? encodeEventValue(content[k], { freeze: false }, ['content', k]));
  }
  const redactedContent = joinObject(contentKeys, contentParts);
  const keys = parts.keys.filter((k) => kept.has(k) && k !== 'signatures');
  if (!parts.top.has('content')) keys.push('content');
  let out = '{';
  for (const k of keys.sort()) out += `${out.length > 1 ? ',' : ''}"${k}":${k === 'content' ? redactedContent : parts.top.get(k)!}`;
  return `${out}}`;
}

const sha256 = (text: string | Buffer): Buffer => createHash('sha256').update(text).digest();

/** What parsePdu computed of an event, kept so later checks redo none of it. */
export interface EventDigest {
  readonly version: RoomVersion;
  /** Bytes of the whole PDU in canonical JSON. */
  readonly size: number;
  /** Unpadded base64 SHA-256 of the content-hash form. */
  readonly contentHash: string;
  /** The redacted form without signatures and unsigned, as UTF-8. */
  readonly redactedBytes: Buffer;
  readonly referenceHash: Buffer;
  /** The first value the strict (v6+) number rules refuse, if any. */
  readonly strictViolation: { path: string; message: string } | undefined;
}

const digests = new WeakMap<object, EventDigest>();

/** Computes every form of the event; with `freeze`, the PDU is deep-frozen and the digest kept for it. */
export function digestPdu(pdu: Pdu, version: RoomVersion, freeze: boolean): EventDigest {
  const parts = encodeParts(pdu, freeze);
  const redactedBytes = Buffer.from(redactedInput(pdu, parts, version), 'utf8');
  const digest: EventDigest = {
    version,
    size: Buffer.byteLength(joinObject(parts.keys, parts.top), 'utf8'),
    contentHash: contentHashOfParts(parts),
    redactedBytes,
    referenceHash: sha256(redactedBytes),
    strictViolation: parts.state.strictViolation,
  };
  if (freeze) digests.set(pdu, digest);
  return digest;
}

/** The digest parsePdu kept for this very (frozen) object under this version, if any. */
export function cachedDigest(pdu: Pdu, version?: RoomVersion): EventDigest | undefined {
  const d = digests.get(pdu);
  return d && (version === undefined || d.version.id === version.id) ? d : undefined;
}

/** The redacted bytes and reference hash of any PDU under a version (from the cache when parsePdu saw it). */
export function redactedDigest(pdu: Pdu, version: RoomVersion): { redactedBytes: Buffer; referenceHash: Buffer } {
  const cached = cachedDigest(pdu, version);
  if (cached) return cached;
  const redactedBytes = Buffer.from(redactedInput(pdu, encodeParts(pdu, false), version), 'utf8');
  return { redactedBytes, referenceHash: sha256(redactedBytes) };
}

/** Unpadded base64 SHA-256 of the content-hash form. */
export function contentHashOfParts(parts: EventParts): string {
  return encodeBase64(sha256(contentHashInput(parts)));
}

/** The content hash of any PDU (from the cache when parsePdu saw it; the version does not change it). */
export function contentHashOf(pdu: Pdu): string {
  return digests.get(pdu)?.contentHash ?? contentHashOfParts(encodeParts(pdu, false));
}
