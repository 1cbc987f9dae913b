// State resolution for a room version: v1 for room version 1, v2 for the others.
import type { RoomVersion } from '../events/room-versions.js';
import type { StateMap } from '../events/types.js';
import { eventSource, requireEvents, type EventLookup } from './event-source.js';
import { resolveStateV1 } from './state-res-v1.js';
import { resolveStateV2 } from './state-res-v2.js';

export interface ResolveOptions {
  /**
   * Whether an event was rejected. Rejected events never enter the resolved
   * state and rejected auth events are not used by the iterative auth checks
   * (v2). Without it every event counts as accepted.
   */
  isRejected?: (eventId: string) => boolean;
}

/**
 * Resolves the state sets (slot -> event ID) of a room's forward extremities.
 * getEvent is synchronous (the room peer reads its store); an event it
 * cannot find throws MissingEventError(eventId).
 */
export function resolveState(version: RoomVersion, stateSets: readonly StateMap[], getEvent: EventLookup, options: ResolveOptions = {}): Map<string, string> {
  if (stateSets.length === 0) return new Map();
  const events = eventSource(getEvent);
  if (version.stateResolution === 1) return resolveStateV1(stateSets, events);
  // The auth chain walk reads each event of the room's auth DAG once: it
  // bypasses the memory of the other steps, which would only double its work.
  return resolveStateV2(stateSets, events, requireEvents(getEvent), options.isRejected ?? (() => false));
}
