// What a test waits for, as data: the fields an event must have. HTTP cannot
// carry the library's predicate function, and most waits are "the event with
// this ID" or "a message with this body".
import { isDeepStrictEqual } from 'node:util';
import type { JsonObject } from '../matrix/canonical-json.js';
import type { TimelineEvent } from '../rooms/peer.js';

export interface EventMatch {
  eventId?: string;
  type?: string;
  sender?: string;
  stateKey?: string;
  /** Shorthand for `content: {body}`. */
  body?: string;
  /** Every field given must be present with an equal value (other content fields may be anything). */
  content?: JsonObject;
}

export function eventMatcher(m: EventMatch): (e: TimelineEvent) => boolean {
  const content: JsonObject = { ...m.content, ...(m.body !== undefined ? { body: m.body } : {}) };
  return (e) =>
    (m.eventId === undefined || e.eventId === m.eventId) &&
    (m.type === undefined || e.type === m.type) &&
    (m.sender === undefined || e.sender === m.sender) &&
    (m.stateKey === undefined || e.stateKey === m.stateKey) &&
    Object.entries(content).every(([k, v]) => isDeepStrictEqual(e.content[k], v));
}
