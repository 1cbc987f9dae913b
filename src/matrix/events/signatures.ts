// Signing events and checking their signatures (spec: "Signing Events",
// "Validating hashes and signatures on received events"; Synapse's
// add_hashes_and_signatures and _check_sigs_on_pdu).
import type { JsonObject } from '../canonical-json.js';
import { signDetached, verifyDetached, type Signatures, type VerifyKey } from '../signing.js';
import type { SigningKey } from '../signing-key.js';
import { contentHashOfParts, encodeParts, redactedDigest, redactedInput, withTopLevel } from './encoding.js';
import { isJsonObject } from './event-json.js';
import { domainOf } from './ids.js';
import type { RoomVersion } from './room-versions.js';
import type { Pdu, RoomEvent } from './types.js';

/**
 * Adds `hashes.sha256` (the content hash; other algorithms' hashes are kept)
 * and our signature over the redacted form, keeping other servers'
 * signatures. The input is not changed. Throws CanonicalJsonError for a value
 * no room version can encode.
 */
export function signPdu(pdu: Pdu, version: RoomVersion, serverName: string, key: SigningKey): Pdu {
  const parts = encodeParts(pdu, false);
  const hash = contentHashOfParts(parts);
  const hashes: JsonObject = { ...(isJsonObject(pdu.hashes) ? pdu.hashes : {}), sha256: hash };
  const signature = signDetached(Buffer.from(redactedInput(pdu, withTopLevel(parts, 'hashes', hashes), version), 'utf8'), key);
  const existing = isJsonObject(pdu.signatures) ? (pdu.signatures as Signatures) : {};
  const ours = isJsonObject(existing[serverName]) ? existing[serverName] : {};
  return { ...pdu, hashes, signatures: { ...existing, [serverName]: { ...ours, [key.keyId]: signature } } };
}

/** A server whose signature an event needs, and why. */
export interface RequiredSignature {
  serverName: string;
  why: string;
}

/**
 * The servers that must have signed the event, each once with every reason:
 * the sender's server (except for an invite made from a third-party invite,
 * which another server may send, as Synapse allows); in v1/v2 the server in
 * the event ID; for a restricted join (v8+) the server of
 * `join_authorised_via_users_server`. Synapse asks no more; the spec's v8+
 * auth rules name that key on other memberships too, which the auth rules
 * check.
 */
export function requiredSignatures(event: RoomEvent): RequiredSignature[] {
  const v = event.roomVersion;
  const needed = new Map<string, string[]>();
  const add = (serverName: string, why: string) => needed.set(serverName, [...(needed.get(serverName) ?? []), why]);
  const isMember = event.type === 'm.room.member';
  const membership = event.content.membership;
  if (!(isMember && membership === 'invite' && event.content.third_party_invite !== undefined)) add(event.origin, `the server of the sender ${event.sender}`);
  if (v.eventFormat === 1) add(domainOf(event.eventId)!, `the server of the event ID ${event.eventId}`);
  const authoriser = event.content.join_authorised_via_users_server;
  if (v.restrictedJoinRule && isMember && membership === 'join' && typeof authoriser === 'string') {
    add(domainOf(authoriser)!, `the server of ${authoriser}, who authorised the restricted join`);
  }
  return [...needed].map(([serverName, whys]) => ({ serverName, why: whys.join('; ') }));
}

/**
 * Finds a server's public key. `minimumValidUntilTs` is the time the key must
 * be valid at: the event's origin_server_ts from room version 5 on, 0 before.
 * Return undefined for a key not known or not valid then; such signatures
 * are skipped, as the spec says.
 */
export type EventKeyLookup = (serverName: string, keyId: string, minimumValidUntilTs: number) => VerifyKey | undefined;

export type EventSignatureResult = { ok: true; verified: Array<{ serverName: string; keyId: string }> } | { ok: false; reason: string };

/**
 * Checks every required signature with keys the caller already fetched, as
 * Synapse does: each required server needs at least one ed25519 signature by
 * a known, valid key, and every such signature must verify; signatures by
 * unknown keys and other servers' signatures are ignored.
 */
export function verifyEventSignatures(event: RoomEvent, keys: EventKeyLookup): EventSignatureResult {
  const { redactedBytes } = redactedDigest(event.pdu, event.roomVersion);
  const validAt = event.roomVersion.enforceKeyValidity ? event.originServerTs : 0;
  const all = isJsonObject(event.pdu.signatures) ? event.pdu.signatures : {};
  const verified: Array<{ serverName: string; keyId: string }> = [];
  for (const { serverName, why } of requiredSignatures(event)) {
    const sigs = all[serverName];
    const keyIds = isJsonObject(sigs) ? Object.keys(sigs).filter((k) => k.startsWith('ed25519:')) : [];
    if (keyIds.length === 0) return { ok: false, reason: `not signed by ${serverName}, ${why}` };
    let count = 0;
    for (const keyId of keyIds) {
      const key = keys(serverName, keyId, validAt);
      if (key === undefined) continue;
      if (!verifyDetached(redactedBytes, (sigs as JsonObject)[keyId] as string, key)) {
        return { ok: false, reason: `signature ${keyId} of ${serverName} (${why}) does not verify` };
      }
      verified.push({ serverName, keyId });
      count++;
    }
    if (count === 0) {
      const when = validAt ? ` valid at origin_server_ts ${validAt}` : '';
      return { ok: false, reason: `no known key${when} for any signature of ${serverName} (${why}): ${keyIds.join(', ')}` };
    }
  }
  return { ok: true, verified };
}
