// Rule "membership is invite and content has third_party_invite": the
// invite stands on an m.room.third_party_invite event of the same sender,
// and the identity server's signature over `signed` must verify with one of
// the public keys that event published.
import type { JsonObject } from '../canonical-json.js';
import type { RoomEvent } from '../events/types.js';
import { verifyJsonSignature } from '../signing.js';
import { publicKeyFromBase64 } from '../signing-key.js';
import { isObject, own, ownString } from './json.js';
import { ALLOW, deny, type AuthResult } from './result.js';
import { thirdPartyInviteSlot } from './slots.js';

/**
 * At most this many (public key, signature) pairs are tried. A real invite
 * has one signature and two or three keys; the cap keeps a crafted event
 * (thousands of keys and signatures fit in 64 KiB) from holding the event
 * loop with a million Ed25519 verifications.
 */
export const MAX_THIRD_PARTY_SIGNATURE_CHECKS = 16;

function publicKeysOf(invite: RoomEvent): string[] {
  const keys: string[] = [];
  const single = ownString(invite.content, 'public_key');
  if (single !== undefined) keys.push(single);
  const list = own(invite.content, 'public_keys');
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isObject(entry)) {
        const key = ownString(entry, 'public_key');
        if (key !== undefined) keys.push(key);
      }
    }
  }
  return [...new Set(keys)];
}

function signedByOneOf(signed: JsonObject, keys: readonly string[]): boolean {
  const signatures = own(signed, 'signatures');
  if (!isObject(signatures)) return false;
  let tries = 0;
  for (const keyText of keys) {
    let key: ReturnType<typeof publicKeyFromBase64>;
    try {
      key = publicKeyFromBase64(keyText);
    } catch {
      continue;
    }
    for (const server of Object.keys(signatures)) {
      const byServer = signatures[server];
      if (!isObject(byServer)) continue;
      for (const keyId of Object.keys(byServer)) {
        if (!keyId.startsWith('ed25519:')) continue;
        if (++tries > MAX_THIRD_PARTY_SIGNATURE_CHECKS) return false;
        if (verifyJsonSignature(signed, server, keyId, key).ok) return true;
      }
    }
  }
  return false;
}

/** The third-party invite rules; `targetMembership` is the invited user's current membership. */
export function checkThirdPartyInvite(event: RoomEvent, authState: ReadonlyMap<string, RoomEvent>, targetMembership: string | undefined): AuthResult {
  if (targetMembership === 'ban') return deny('member.invite.third_party.banned', `${event.stateKey} is banned`);
  const invite = own(event.content, 'third_party_invite');
  const signed = isObject(invite) ? own(invite, 'signed') : undefined;
  if (!isObject(signed)) return deny('member.invite.third_party.no_signed', 'content.third_party_invite has no signed object');
  const mxid = ownString(signed, 'mxid');
  const token = ownString(signed, 'token');
  if (mxid === undefined || token === undefined) {
    return deny('member.invite.third_party.signed_fields', 'content.third_party_invite.signed needs string mxid and token');
  }
  if (mxid !== event.stateKey) return deny('member.invite.third_party.mxid', `signed.mxid ${mxid} is not the invited user ${event.stateKey}`);
  const thirdPartyInvite = authState.get(thirdPartyInviteSlot(token));
  if (thirdPartyInvite === undefined) return deny('member.invite.third_party.no_invite_event', `no m.room.third_party_invite for token ${JSON.stringify(token)}`);
  if (thirdPartyInvite.sender !== event.sender) {
    return deny('member.invite.third_party.sender', `the m.room.third_party_invite was sent by ${thirdPartyInvite.sender}, not ${event.sender}`);
  }
  if (!signedByOneOf(signed, publicKeysOf(thirdPartyInvite))) {
    return deny('member.invite.third_party.signature', 'no signature in signed verifies with a public key of the m.room.third_party_invite');
  }
  return ALLOW;
}
