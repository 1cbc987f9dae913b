// Content hash, reference hash and event IDs (spec: "Signing Events",
// "Calculating the reference hash for an event"; rooms v1, v3 and v4 "Event
// IDs").
import { decodeBase64, encodeBase64 } from '../base64.js';
import { contentHashOf, redactedDigest } from './encoding.js';
import { EventFormatError } from './errors.js';
import { isJsonObject } from './event-json.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu } from './types.js';

/**
 * Unpadded base64 SHA-256 of the event's canonical JSON without `unsigned`,
 * `signatures` and `hashes` (and the legacy top-level `age_ts`, `outlier` and
 * `destinations`, which Synapse and gomatrixserverlib also leave out). Throws
 * CanonicalJsonError for a value no room version can encode.
 */
export function computeContentHash(pdu: Pdu): string {
  return contentHashOf(pdu);
}

/** True when `hashes.sha256` is present and decodes to the content hash (padded base64 accepted, as Synapse does). */
export function checkContentHash(pdu: Pdu): boolean {
  const hashes = pdu.hashes;
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== 'string') return false;
  const ours = contentHashOf(pdu);
  if (hashes.sha256 === ours) return true;
  // Otherwise compare bytes: padding, or trailing bits that decoders ignore, do not make another hash.
  let claimed: Buffer;
  try {
    claimed = decodeBase64(hashes.sha256);
  } catch {
    return false;
  }
  return claimed.equals(decodeBase64(ours));
}

/** SHA-256 of the redacted event without `signatures` and `unsigned`, in canonical JSON. */
export function computeReferenceHash(pdu: Pdu, version: RoomVersion): Buffer {
  return redactedDigest(pdu, version).referenceHash;
}

/** `$` and a reference hash in the version's alphabet (v3 standard, v4 and later URL-safe). */
export function eventIdFromReferenceHash(hash: Buffer, version: RoomVersion): string {
  const b64 = encodeBase64(hash);
  return `$${version.eventFormat === 3 ? b64.replace(/\+/g, '-').replace(/\//g, '_') : b64}`;
}

/**
 * v1/v2: the event's own `event_id` (EventFormatError when missing); v3: `$`
 * and the standard unpadded base64 of the reference hash; v4 and later:
 * URL-safe unpadded base64.
 */
export function computeEventId(pdu: Pdu, version: RoomVersion): string {
  if (version.eventFormat === 1) {
    if (typeof pdu.event_id !== 'string') throw new EventFormatError(`event_id: missing; room version ${version.id} events carry their own ID`);
    return pdu.event_id;
  }
  return eventIdFromReferenceHash(computeReferenceHash(pdu, version), version);
}
