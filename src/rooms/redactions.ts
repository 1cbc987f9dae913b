// Redactions applied (the spec's "Redactions" and, from room version 3,
// "Handling redactions"): an accepted m.room.redaction replaces the event it
// names by that event's redacted form, which from then on is what every
// federation answer, the timeline and the auth rules read. The target may
// arrive after the redaction (a redaction names any event ID): accepted
// redactions are kept in the `redactions` table and applied when it does.
//
// From room version 3 the auth rules accept any redaction a member may send
// and leave the real check to the server, because the target's server is
// only known once the target is: here, at apply time, as Synapse does when
// it reads the event, the redacter must hold the room's `redact` level (in
// the redaction's own auth events) or be on the server of the target's
// sender. In versions 1 and 2 the auth rules already made that check (on the
// servers of the event IDs). Redactions of m.room.create are ignored, as
// Synapse ignores them.
//
// The stored form is Synapse's censored form: the redacted PDU with
// `unsigned.redacted_by`; the content is gone from disk too. The library's
// timeline adds `unsigned.redacted_because` (the redaction itself) when it
// reads the event, as Synapse's client API does; federation answers carry the
// stored form, as Synapse's `get_pdu_json` leaves `redacted_because` out.
import { authStateOf, namedPowerLevel, userPowerLevel } from '../matrix/auth/index.js';
import { parsePdu, redactPdu } from '../matrix/events/index.js';
import { stateSlot, type Pdu, type RoomEvent } from '../matrix/events/types.js';
import { domainOf } from './identity.js';
import type { RoomData } from './room-data.js';
import type { StoredEvent } from './store.js';

/** Redactions of one event looked at when it arrives (more are kept, but one that applies is enough). */
const MAX_PENDING_CHECKED = 16;

/** Whether `redaction`'s sender may redact `target` (room version 3 and later; earlier versions: the auth rules decided). */
export function mayRedact(data: RoomData, redaction: RoomEvent, target: RoomEvent): boolean {
  if (redaction.roomVersion.eventFormat === 1) return true;
  if (domainOf(redaction.sender) === domainOf(target.sender)) return true;
  const authEvents = redaction.authEvents.map((id) => data.event(id)).filter((e): e is RoomEvent => e !== undefined);
  const state = authStateOf(authEvents);
  const powerLevels = state.get(stateSlot('m.room.power_levels', ''));
  return userPowerLevel(redaction.sender, powerLevels, state.get(stateSlot('m.room.create', ''))) >= namedPowerLevel(powerLevels, 'redact');
}

/** Replaces the stored target by its redacted form when the redaction applies to it; true when it did. */
function redactStored(data: RoomData, target: StoredEvent, redaction: RoomEvent): boolean {
  if (target.redactedBy !== undefined || target.roomId !== redaction.roomId) return false;
  const event = data.event(target.eventId);
  if (!event || event.type === 'm.room.create' || !mayRedact(data, redaction, event)) return false;
  const pdu: Pdu = { ...redactPdu(event.pdu, event.roomVersion), unsigned: { redacted_by: redaction.eventId } };
  data.putEvent({ ...target, pdu, redactedBy: redaction.eventId }, parsePdu(pdu, event.roomVersion));
  return true;
}

/** An accepted m.room.redaction: kept for its target, and applied now when the target is here. */
export function applyRedaction(data: RoomData, redaction: RoomEvent): void {
  if (redaction.type !== 'm.room.redaction' || redaction.redacts === undefined) return;
  data.store.redactions.put([redaction.redacts, redaction.eventId], redaction.roomId);
  const target = data.stored(redaction.redacts);
  if (target) redactStored(data, target, redaction);
}

/** An event just stored: redactions that arrived before it apply now. */
export function applyEarlierRedactions(data: RoomData, eventId: string): void {
  const earlier = data.store.redactions.range([eventId, ''], [eventId, '\u{10FFFF}'], { limit: MAX_PENDING_CHECKED });
  for (const { key } of earlier) {
    const target = data.stored(eventId);
    const redaction = data.event(key[1]);
    if (!target || !redaction) continue;
    if (redactStored(data, target, redaction)) return;
  }
}

/** The event as the library shows it: a redacted event carries the redaction in `unsigned.redacted_because`, as Synapse's clients see it. */
export function withRedactedBecause(data: RoomData, record: StoredEvent, pdu: Pdu): Pdu {
  if (record.redactedBy === undefined) return pdu;
  const because = data.stored(record.redactedBy)?.pdu;
  return { ...pdu, unsigned: { redacted_by: record.redactedBy, ...(because ? { redacted_because: because } : {}) } };
}
