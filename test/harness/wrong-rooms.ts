// Room peers with one part of receiving events swapped, for the probe's room
// checks: each is a real fedpeer whose /send (or /event) goes through a hook
// that changes exactly one thing, so the probe must flag exactly the check
// about that thing.
import { redactPdu, roomVersion, checkContentHash } from '../../src/matrix/events/index.js';
import type { Pdu } from '../../src/matrix/events/types.js';
import { signDetached, signedBytes, verifyJsonSignature } from '../../src/matrix/signing.js';
import type { SigningKey } from '../../src/matrix/signing-key.js';
import type { HookRequest } from '../../src/rooms/hooks.js';
import type { RoomPeer } from '../../src/rooms/peer.js';
import { domainOf } from '../../src/rooms/identity.js';

type Body = { pdus?: Pdu[]; edus?: unknown[] };

/** The peer processes `change(pdus)` instead of what was sent (the request itself was authenticated as usual). */
function changePdus(peer: RoomPeer, change: (pdus: Pdu[]) => Pdu[]): void {
  peer.hooks.onSend = async (req: HookRequest) => {
    const body = req.body as Body;
    const pdus = body.pdus ?? [];
    // Over the limit the peer's own refusal stands.
    if (pdus.length > 50) return undefined;
    return { respond: await peer.transactions.receive(req.origin, req.params.txnId!, { ...body, pdus: change(pdus) }) };
  };
}

function versionOf(peer: RoomPeer, pdu: Pdu) {
  const room = peer.data.room(String(pdu.room_id));
  return room ? roomVersion(room.version) : undefined;
}

/**
 * Takes events whose signature by `server` does not verify as if it did: a
 * bad signature is replaced by a good one (made with the key the test holds)
 * before the peer checks it. Hashes are left as they are.
 */
export function acceptForgedSignatures(peer: RoomPeer, server: string, key: SigningKey): void {
  changePdus(peer, (pdus) =>
    pdus.map((pdu) => {
      const version = versionOf(peer, pdu);
      const sig = (pdu.signatures as Record<string, Record<string, string>> | undefined)?.[server]?.[key.keyId];
      if (!version || sig === undefined) return pdu;
      const redacted = redactPdu(pdu, version);
      if (verifyJsonSignature(redacted, server, key.keyId, key.publicKey).ok) return pdu;
      return { ...pdu, signatures: { ...(pdu.signatures as object), [server]: { [key.keyId]: signDetached(signedBytes(redacted), key) } } };
    }),
  );
}

/** Drops events whose content hash does not match, instead of keeping them redacted. */
export function dropWrongHashes(peer: RoomPeer): void {
  changePdus(peer, (pdus) => pdus.filter((pdu) => checkContentHash(pdu)));
}

/**
 * Takes events in the name of its own users that only another server signed:
 * before the peer checks them, it adds its own signature, as a server that
 * checks only the origin's signature in effect does.
 */
export function acceptOwnUsersFromOthers(peer: RoomPeer): void {
  const { serverName, signingKey } = peer.identity;
  changePdus(peer, (pdus) =>
    pdus.map((pdu) => {
      const version = versionOf(peer, pdu);
      const signatures = (pdu.signatures ?? {}) as Record<string, Record<string, string>>;
      if (!version || domainOf(String(pdu.sender)) !== serverName || signatures[serverName] !== undefined) return pdu;
      return { ...pdu, signatures: { ...signatures, [serverName]: { [signingKey.keyId]: signDetached(signedBytes(redactPdu(pdu, version)), signingKey) } } };
    }),
  );
}

/** Takes transactions over the 50-PDU limit: the PDUs go through in two transactions of its own, answered as one. */
export function acceptOversizedTransactions(peer: RoomPeer): void {
  peer.hooks.onSend = async (req: HookRequest) => {
    const body = req.body as Body;
    const pdus = body.pdus ?? [];
    if (pdus.length <= 50) return undefined;
    const txnId = req.params.txnId!;
    const first = await peer.transactions.receive(req.origin, txnId, { ...body, pdus: pdus.slice(0, 50) });
    const rest = await peer.transactions.receive(req.origin, `${txnId} (rest)`, { ...body, pdus: pdus.slice(50), edus: [] });
    return { respond: { pdus: { ...first.pdus, ...rest.pdus } } };
  };
}

/** Forgets every transaction ID, so a repeated transaction is processed again. */
export function forgetTransactionIds(peer: RoomPeer): void {
  peer.hooks.onSend = (req) => {
    peer.data.store.transactions.remove([req.origin, req.params.txnId!]);
    return undefined;
  };
}

/**
 * Serves rejected events over /event, as Synapse does (the spec allows it):
 * a correct server, on which the probe must tell rejection apart by other means.
 */
export function serveRejectedEvents(peer: RoomPeer): void {
  peer.hooks.onRequest = (req) => {
    if (req.endpoint !== 'event') return undefined;
    const stored = peer.data.stored(req.params.eventId!);
    if (stored?.status !== 'rejected') return undefined;
    return { respond: { origin: peer.identity.serverName, origin_server_ts: Date.now(), pdus: [peer.data.event(req.params.eventId!)!.pdu] } };
  };
}
