// State resolution reads events through the room peer's synchronous lookup.
// An event it cannot find stops the resolution with MissingEventError, so the
// caller can fetch that event (/event, /event_auth) and resolve again.
import type { RoomEvent } from '../events/types.js';

export class MissingEventError extends Error {
  readonly eventId: string;
  constructor(eventId: string) {
    super(`state resolution needs event ${eventId}, which is not known: fetch it and resolve again`);
    this.name = 'MissingEventError';
    this.eventId = eventId;
  }
}

export type EventLookup = (eventId: string) => RoomEvent | undefined;

/** The lookup, failing with MissingEventError for an event it cannot find. */
export function requireEvents(getEvent: EventLookup): (eventId: string) => RoomEvent {
  return (eventId) => {
    const event = getEvent(eventId);
    if (event === undefined) throw new MissingEventError(eventId);
    return event;
  };
}

/** The same, remembered for one resolution (the steps after the auth chain walk ask for the same events many times). */
export function eventSource(getEvent: EventLookup): (eventId: string) => RoomEvent {
  const seen = new Map<string, RoomEvent>();
  return (eventId) => {
    let event = seen.get(eventId);
    if (event === undefined) {
      event = getEvent(eventId);
      if (event === undefined) throw new MissingEventError(eventId);
      seen.set(eventId, event);
    }
    return event;
  };
}
