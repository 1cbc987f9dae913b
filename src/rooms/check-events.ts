// The spec's first three checks on receipt of a PDU, for a batch: the format
// of the room version, the signatures (keys fetched for the whole batch
// first), and the content hash (a mismatch keeps the event in its redacted
// form). Signature checks are CPU work on what strangers send: the loop
// yields to the event loop every few events so other requests keep moving.
import { checkContentHash, computeEventId, EventFormatError, parsePdu, redactPdu, verifyEventSignatures } from '../matrix/events/index.js';
import type { RoomVersion } from '../matrix/events/room-versions.js';
import type { Pdu, RoomEvent } from '../matrix/events/types.js';
import { fetchEventKeys, type EventKeySource } from './event-keys.js';
import type { PeerIdentity } from './identity.js';

export type Checked =
  | {
      ok: true;
      event: RoomEvent;
      /** Set when the content hash did not match and the redacted form is kept. */
      redacted?: string;
      /** Already held (the `known` test said so): not checked again, since its ID covers everything the checks read. */
      known?: true;
    }
  | { ok: false; eventId?: string; error: string };

const YIELD_EVERY = 8;

/** The ID an event that failed its format checks would have, when one can be computed at all (for the per-PDU answer). */
function eventIdOf(pdu: unknown, version: RoomVersion): string | undefined {
  if (typeof pdu !== 'object' || pdu === null || Array.isArray(pdu)) return undefined;
  try {
    return computeEventId(pdu as Pdu, version);
  } catch {
    return undefined;
  }
}

export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Parses, fetches keys for and checks a batch of PDUs of one room version;
 * results in input order. Events `known` recognises by ID skip the key
 * fetches and signature checks (a fetched auth chain is mostly events we hold).
 */
export async function checkEvents(identity: PeerIdentity, keys: EventKeySource, pdus: readonly unknown[], version: RoomVersion, known?: (eventId: string) => boolean): Promise<Checked[]> {
  const parsed: Array<RoomEvent | { error: string; eventId?: string }> = pdus.map((pdu) => {
    try {
      return parsePdu(pdu, version);
    } catch (e) {
      if (!(e instanceof EventFormatError)) throw e;
      const id = eventIdOf(pdu, version);
      return { error: `invalid event: ${e.message}`, ...(id ? { eventId: id } : {}) };
    }
  });
  const events = parsed.filter((p): p is RoomEvent => 'pdu' in p && !known?.(p.eventId));
  const lookup = await fetchEventKeys(identity, keys, events);
  const out: Checked[] = [];
  let n = 0;
  for (const p of parsed) {
    if (!('pdu' in p)) {
      out.push({ ok: false, ...p });
      continue;
    }
    if (known?.(p.eventId)) {
      out.push({ ok: true, event: p, known: true });
      continue;
    }
    if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
    const sig = verifyEventSignatures(p, lookup);
    if (!sig.ok) {
      out.push({ ok: false, eventId: p.eventId, error: `signature check failed: ${sig.reason}` });
      continue;
    }
    if (checkContentHash(p.pdu)) {
      out.push({ ok: true, event: p });
      continue;
    }
    // Same event ID (the reference hash covers the redacted form), content gone.
    out.push({ ok: true, event: parsePdu(redactPdu(p.pdu, version), version), redacted: 'content hash mismatch: kept redacted' });
  }
  return out;
}
