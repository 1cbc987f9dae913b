// The keys that event signatures are checked with: fetched for every server
// a batch of events needs before any signature is checked (one fetch per
// server, however many events it signed), then looked up synchronously,
// honouring when each key was valid (room versions 5 and later).
import type { VerifyKey } from '../matrix/signing.js';
import { requiredSignatures, type EventKeyLookup } from '../matrix/events/index.js';
import type { RoomEvent } from '../matrix/events/types.js';
import type { VerifiedServerKeys } from '../matrix/server-keys.js';
import type { PeerIdentity } from './identity.js';

/** The part of the key store (federation/keys.ts) event checks use. */
export interface EventKeySource {
  getServerKeys(serverName: string): Promise<{ keys?: VerifiedServerKeys }>;
  lookupVerifyKey(serverName: string, keyId: string): Promise<unknown>;
  cached(serverName: string): VerifiedServerKeys | undefined;
}

/** Most servers one batch may make us fetch keys from (a transaction names few). */
export const MAX_KEY_SERVERS_PER_BATCH = 20;

/**
 * Fetches what the events' signatures need and returns the lookup
 * verifyEventSignatures takes. Servers past MAX_KEY_SERVERS_PER_BATCH are not
 * fetched; their events then fail the check for want of a key.
 */
export async function fetchEventKeys(identity: PeerIdentity, source: EventKeySource, events: readonly RoomEvent[]): Promise<EventKeyLookup> {
  const wanted = new Map<string, Set<string>>();
  for (const event of events) {
    const signatures = event.pdu.signatures as Record<string, Record<string, unknown>> | undefined;
    for (const { serverName } of requiredSignatures(event)) {
      if (serverName === identity.serverName) continue;
      let ids = wanted.get(serverName);
      if (!ids) {
        if (wanted.size >= MAX_KEY_SERVERS_PER_BATCH) continue;
        wanted.set(serverName, (ids = new Set()));
      }
      for (const keyId of Object.keys(signatures?.[serverName] ?? {})) ids.add(keyId);
    }
  }
  await Promise.all(
    [...wanted].map(async ([serverName, keyIds]) => {
      const { keys } = await source.getServerKeys(serverName).catch(() => ({ keys: undefined }));
      // A key ID the document does not list may be a newer key: one throttled refetch.
      const unknown = [...keyIds].filter((id) => id.startsWith('ed25519:') && !keys?.verifyKeys[id] && !keys?.oldVerifyKeys[id]);
      if (unknown.length > 0) await source.lookupVerifyKey(serverName, unknown[0]!).catch(() => null);
    }),
  );
  return (serverName, keyId, validAt) => {
    if (serverName === identity.serverName) return keyId === identity.signingKey.keyId ? identity.signingKey.publicKey : undefined;
    const keys = source.cached(serverName);
    if (!keys) return undefined;
    const current = keys.verifyKeys[keyId];
    if (current && (validAt === 0 || keys.validUntilTs >= validAt)) return current.publicKey as VerifyKey;
    const old = keys.oldVerifyKeys[keyId];
    if (old && (validAt === 0 || old.expiredTs >= validAt)) return old.publicKey as VerifyKey;
    return undefined;
  };
}
