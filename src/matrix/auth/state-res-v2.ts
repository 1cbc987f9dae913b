// State resolution v2 (spec: rooms/v2 "State resolution", used by room
// versions 2 to 11), as Synapse implements it where the spec leaves room:
// m.room.create counts as a power event; the power events' auth chains are
// walked through the full conflicted set only; rejected events never enter
// the state and rejected auth events are not used (Synapse issue 13797).
import { compareCodePoints } from '../canonical-json.js';
import { stateSlot, type RoomEvent, type StateMap } from '../events/types.js';
import { authDifference } from './auth-chain.js';
import { MinHeap } from './heap.js';
import { own } from './json.js';
import { userPowerLevel } from './power-levels.js';
import { checkEventAuth } from './rules.js';
import { authEventSlots } from './selection.js';
import { CREATE_SLOT, JOIN_RULES_SLOT, POWER_LEVELS_SLOT } from './slots.js';

type GetEvent = (eventId: string) => RoomEvent;

function slotOf(event: RoomEvent): string | undefined {
  return event.stateKey === undefined ? undefined : stateSlot(event.type, event.stateKey);
}

function compare(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Unconflicted: slots every set has with the same event. Conflicted: the events of every other slot. */
export function separate(stateSets: readonly StateMap[]): { unconflicted: Map<string, string>; conflicted: Set<string> } {
  const unconflicted = new Map<string, string>();
  const conflicted = new Set<string>();
  const [first, ...rest] = stateSets;
  for (const [slot, id] of first!) {
    if (rest.every((s) => s.get(slot) === id)) unconflicted.set(slot, id);
    else conflicted.add(id);
  }
  for (const stateSet of rest) {
    for (const [slot, id] of stateSet) if (!unconflicted.has(slot)) conflicted.add(id);
  }
  return { unconflicted, conflicted };
}

/** Power events: events that may take someone's ability away (and, as in Synapse, the create event). */
export function isPowerEvent(event: RoomEvent): boolean {
  const slot = slotOf(event);
  if (slot === POWER_LEVELS_SLOT || slot === JOIN_RULES_SLOT || slot === CREATE_SLOT) return true;
  if (event.type !== 'm.room.member' || event.stateKey === event.sender) return false;
  const membership = own(event.content, 'membership');
  return membership === 'leave' || membership === 'ban';
}

/** The first auth event in the (m.room.power_levels, '') slot, if any. */
function powerLevelsAuthEvent(event: RoomEvent, getEvent: GetEvent): RoomEvent | undefined {
  for (const id of event.authEvents) {
    const authEvent = getEvent(id);
    if (slotOf(authEvent) === POWER_LEVELS_SLOT) return authEvent;
  }
  return undefined;
}

/** The sender's power level according to the event's own auth events. */
export function senderPowerLevel(event: RoomEvent, getEvent: GetEvent): number {
  let powerLevels: RoomEvent | undefined;
  let create: RoomEvent | undefined;
  for (const id of event.authEvents) {
    const authEvent = getEvent(id);
    const slot = slotOf(authEvent);
    if (slot === POWER_LEVELS_SLOT) powerLevels = authEvent;
    else if (slot === CREATE_SLOT) create = authEvent;
  }
  return userPowerLevel(event.sender, powerLevels, create);
}

/**
 * The reverse topological power ordering of the power events and the events
 * of their auth chains within the full conflicted set: Kahn's algorithm, each
 * step taking the ready event with the highest sender level, then the
 * earliest origin_server_ts, then the smallest event ID. Events on a cycle
 * (only possible with room versions 1 and 2's chosen IDs) are left out.
 */
export function reverseTopologicalPowerSort(powerEvents: Iterable<string>, fullConflicted: ReadonlySet<string>, getEvent: GetEvent): string[] {
  const edges = new Map<string, Set<string>>();
  for (const start of powerEvents) {
    const todo = [start];
    while (todo.length > 0) {
      const id = todo.pop()!;
      if (!edges.has(id)) edges.set(id, new Set());
      for (const authId of getEvent(id).authEvents) {
        if (!fullConflicted.has(authId)) continue;
        if (!edges.has(authId)) todo.push(authId);
        edges.get(id)!.add(authId);
      }
    }
  }

  type Entry = { id: string; level: number; ts: number };
  const less = (a: Entry, b: Entry): boolean => (compare(b.level, a.level) || compare(a.ts, b.ts) || compareCodePoints(a.id, b.id)) < 0;
  const entry = (id: string): Entry => ({ id, level: senderPowerLevel(getEvent(id), getEvent), ts: getEvent(id).originServerTs });
  const citedBy = new Map<string, string[]>();
  const remaining = new Map<string, number>();
  const ready = new MinHeap<Entry>(less);
  for (const [id, authIds] of edges) {
    remaining.set(id, authIds.size);
    if (authIds.size === 0) ready.push(entry(id));
    for (const authId of authIds) {
      const list = citedBy.get(authId);
      if (list === undefined) citedBy.set(authId, [id]);
      else list.push(id);
    }
  }
  const sorted: string[] = [];
  for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
    sorted.push(next.id);
    for (const citer of citedBy.get(next.id) ?? []) {
      const left = remaining.get(citer)! - 1;
      remaining.set(citer, left);
      if (left === 0) ready.push(entry(citer));
    }
  }
  return sorted;
}

/**
 * The iterative auth checks: each event in turn, checked against the state so
 * far (its own auth events fill the slots the state lacks), enters the state
 * if the authorization rules allow it. Updates `state` in place.
 */
export function iterativeAuthChecks(
  eventIds: readonly string[],
  state: Map<string, string>,
  getEvent: GetEvent,
  isRejected: (eventId: string) => boolean,
): Map<string, string> {
  for (const id of eventIds) {
    const event = getEvent(id);
    const slot = slotOf(event);
    if (slot === undefined || isRejected(id)) continue;
    const authState = new Map<string, RoomEvent>();
    for (const authId of event.authEvents) {
      const authEvent = getEvent(authId);
      const authSlot = slotOf(authEvent);
      if (authSlot !== undefined && !isRejected(authId)) authState.set(authSlot, authEvent);
    }
    for (const needed of authEventSlots(event, event.roomVersion)) {
      const stateId = state.get(needed);
      if (stateId !== undefined && !isRejected(stateId)) authState.set(needed, getEvent(stateId));
    }
    if (checkEventAuth(event, authState).ok) state.set(slot, id);
  }
  return state;
}

/**
 * The mainline ordering based on the resolved power levels event: events
 * whose power levels chain meets the mainline at an older point come first,
 * then the earlier origin_server_ts, then the smaller event ID.
 */
export function mainlineSort(eventIds: readonly string[], powerLevelsId: string | undefined, getEvent: GetEvent): string[] {
  if (eventIds.length === 0) return [];
  const mainline: string[] = [];
  const onMainline = new Set<string>();
  for (let id = powerLevelsId; id !== undefined && !onMainline.has(id); id = powerLevelsAuthEvent(getEvent(id), getEvent)?.eventId) {
    mainline.push(id);
    onMainline.add(id);
  }
  // Position from the oldest power levels event (1) up to the resolved one;
  // 0 for an event whose chain never meets the mainline.
  const depth = new Map<string, number>();
  mainline.forEach((id, i) => depth.set(id, mainline.length - i));
  const mainlineDepth = (start: RoomEvent): number => {
    const path: string[] = [];
    const onPath = new Set<string>();
    let found = 0;
    for (let event: RoomEvent | undefined = start; event !== undefined; event = powerLevelsAuthEvent(event, getEvent)) {
      const known = depth.get(event.eventId);
      if (known !== undefined) {
        found = known;
        break;
      }
      if (onPath.has(event.eventId)) break;
      onPath.add(event.eventId);
      path.push(event.eventId);
    }
    for (const id of path) depth.set(id, found);
    return found;
  };
  const keyed = eventIds.map((id) => {
    const event = getEvent(id);
    return { id, depth: mainlineDepth(event), ts: event.originServerTs };
  });
  keyed.sort((a, b) => compare(a.depth, b.depth) || compare(a.ts, b.ts) || compareCodePoints(a.id, b.id));
  return keyed.map((k) => k.id);
}

export function resolveStateV2(
  stateSets: readonly StateMap[],
  getEvent: GetEvent,
  authChainEvent: GetEvent,
  isRejected: (eventId: string) => boolean,
): Map<string, string> {
  const { unconflicted, conflicted } = separate(stateSets);
  if (conflicted.size === 0) return unconflicted;
  const fullConflicted = new Set([...conflicted, ...authDifference(stateSets, authChainEvent)]);

  // The resolution starts from the unconflicted state and ends by putting it
  // back over whatever the checks wrote: keep the few entries they may overwrite.
  const overwritable = new Map<string, string>();
  for (const id of fullConflicted) {
    const slot = slotOf(getEvent(id));
    const kept = slot === undefined ? undefined : unconflicted.get(slot);
    if (kept !== undefined) overwritable.set(slot!, kept);
  }
  const state = unconflicted;

  const powerEvents = [...fullConflicted].filter((id) => isPowerEvent(getEvent(id)));
  const sortedPower = reverseTopologicalPowerSort(powerEvents, fullConflicted, getEvent);
  iterativeAuthChecks(sortedPower, state, getEvent, isRejected);

  const taken = new Set(sortedPower);
  const others = [...fullConflicted].filter((id) => !taken.has(id));
  iterativeAuthChecks(mainlineSort(others, state.get(POWER_LEVELS_SLOT), getEvent), state, getEvent, isRejected);

  for (const [slot, id] of overwritable) state.set(slot, id);
  return state;
}
