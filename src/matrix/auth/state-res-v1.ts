// State resolution of room version 1 (spec: rooms/v1 "State resolution"), as
// Synapse implements it: a slot is conflicted only where two state sets hold
// different events (a slot some sets lack is not); power levels, then join
// rules, then memberships are resolved by walking their events from the
// oldest (ascending depth, then descending sha1 of the event ID) while each
// is allowed after the one before; any other slot takes the newest event
// (descending depth, ascending sha1) that is allowed, or the oldest if none is.
import { createHash } from 'node:crypto';
import { stateSlot, splitStateSlot, type RoomEvent, type StateMap } from '../events/types.js';
import { checkEventAuth } from './rules.js';
import { authEventSlots } from './selection.js';
import { POWER_LEVELS_SLOT } from './slots.js';

type GetEvent = (eventId: string) => RoomEvent;

function separate(stateSets: readonly StateMap[]): { unconflicted: Map<string, string>; conflicted: Map<string, Set<string>> } {
  const unconflicted = new Map<string, string>();
  const conflicted = new Map<string, Set<string>>();
  for (const stateSet of stateSets) {
    for (const [slot, id] of stateSet) {
      const already = conflicted.get(slot);
      if (already !== undefined) {
        already.add(id);
        continue;
      }
      const unconflictedId = unconflicted.get(slot);
      if (unconflictedId === undefined) unconflicted.set(slot, id);
      else if (unconflictedId !== id) {
        conflicted.set(slot, new Set([unconflictedId, id]));
        unconflicted.delete(slot);
      }
    }
  }
  return { unconflicted, conflicted };
}

/** Newest first: descending depth, then ascending sha1 (hex) of the event ID. */
function newestFirst(events: readonly RoomEvent[]): RoomEvent[] {
  const keyed = events.map((event) => ({ event, sha1: createHash('sha1').update(event.eventId, 'utf8').digest('hex') }));
  keyed.sort((a, b) => b.event.depth - a.event.depth || (a.sha1 < b.sha1 ? -1 : a.sha1 > b.sha1 ? 1 : 0));
  return keyed.map((k) => k.event);
}

function slotOf(event: RoomEvent): string {
  return stateSlot(event.type, event.stateKey ?? '');
}

/** Power levels, join rules, memberships: the chain of events from the oldest, as long as each is allowed after the previous. */
function resolveAuthSlot(events: readonly RoomEvent[], authEvents: ReadonlyMap<string, RoomEvent>): RoomEvent {
  const ordered = newestFirst(events).reverse();
  const needed = new Set(events.flatMap((event) => authEventSlots(event, event.roomVersion)));
  const auth = new Map([...authEvents].filter(([slot]) => needed.has(slot)));
  let previous = ordered[0]!;
  for (const event of ordered.slice(1)) {
    auth.set(slotOf(previous), previous);
    if (!checkEventAuth(event, auth).ok) return previous;
    previous = event;
  }
  return previous;
}

/** Any other slot: the newest event that is allowed, or the oldest when none is. */
function resolveOtherSlot(events: readonly RoomEvent[], authEvents: ReadonlyMap<string, RoomEvent>): RoomEvent {
  const ordered = newestFirst(events);
  return ordered.find((event) => checkEventAuth(event, authEvents).ok) ?? ordered[ordered.length - 1]!;
}

export function resolveStateV1(stateSets: readonly StateMap[], getEvent: GetEvent): Map<string, string> {
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const { unconflicted, conflicted } = separate(stateSets);
  const conflictedEvents = new Map([...conflicted].map(([slot, ids]) => [slot, [...ids].map(getEvent)]));

  // The auth events come from the unconflicted state only, then from each phase's results.
  const authEvents = new Map<string, RoomEvent>();
  for (const events of conflictedEvents.values()) {
    for (const event of events) {
      for (const slot of authEventSlots(event, event.roomVersion)) {
        const id = unconflicted.get(slot);
        if (id !== undefined && !authEvents.has(slot)) authEvents.set(slot, getEvent(id));
      }
    }
  }

  const resolved = new Map<string, RoomEvent>();
  const phase = (pick: (slot: string) => boolean, resolve: typeof resolveAuthSlot): void => {
    const snapshot = new Map(authEvents);
    for (const [slot, events] of conflictedEvents) {
      if (!resolved.has(slot) && pick(slot)) resolved.set(slot, resolve(events, snapshot));
    }
    for (const [slot, event] of resolved) authEvents.set(slot, event);
  };
  phase((slot) => slot === POWER_LEVELS_SLOT, resolveAuthSlot);
  phase((slot) => splitStateSlot(slot)[0] === 'm.room.join_rules', resolveAuthSlot);
  phase((slot) => splitStateSlot(slot)[0] === 'm.room.member', resolveAuthSlot);
  phase(() => true, resolveOtherSlot);

  const result = new Map(unconflicted);
  for (const [slot, event] of resolved) result.set(slot, event.eventId);
  return result;
}
