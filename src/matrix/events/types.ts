// The shapes every room layer shares. `Pdu` is an event as it travels
// between servers (and as it is stored); `RoomEvent` is the same event after
// its format was checked for its room version, with the fields the auth rules,
// state resolution and the room peer read already typed. A RoomEvent is
// built only by matrix/events (see `parsePdu`), so holding one means the
// format checks passed; it says nothing yet about signatures, hashes or auth.
import type { JsonObject } from '../canonical-json.js';
import type { RoomVersion } from './room-versions.js';

/** An event in its federation (wire) form. */
export type Pdu = JsonObject;

export interface RoomEvent {
  /** From the event (room versions 1, 2) or computed from the reference hash (3 and later). */
  readonly eventId: string;
  readonly roomId: string;
  readonly type: string;
  /** Present exactly for state events (an empty string is a state key). */
  readonly stateKey: string | undefined;
  readonly sender: string;
  /** The server that sent the event: the sender's domain (v11 has no `origin` field). */
  readonly origin: string;
  readonly content: JsonObject;
  /** Event IDs, whatever the version's wire form (v1/v2 pairs are reduced to their IDs). */
  readonly prevEvents: readonly string[];
  readonly authEvents: readonly string[];
  readonly depth: number;
  readonly originServerTs: number;
  /** m.room.redaction: the redacted event (top level before v11, `content.redacts` in v11). */
  readonly redacts: string | undefined;
  readonly roomVersion: RoomVersion;
  /** The wire form exactly as received or built, `unsigned` included. */
  readonly pdu: Pdu;
}

/** The key of a state slot: event type and state key. */
export type StateTuple = readonly [type: string, stateKey: string];

/** `type` and `stateKey` joined by U+0000, which neither may contain in a valid event. */
export function stateSlot(type: string, stateKey: string): string {
  return `${type}\u0000${stateKey}`;
}

export function splitStateSlot(slot: string): StateTuple {
  const i = slot.indexOf('\u0000');
  return [slot.slice(0, i), slot.slice(i + 1)];
}

/** A room's state: state slot -> event ID. */
export type StateMap = ReadonlyMap<string, string>;
