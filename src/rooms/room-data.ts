// Reading and writing rooms through the store: events parsed for their room
// version (parsed once, kept in a bounded cache), the state before and after
// each event, the current state, membership, and the auth chain. Everything
// here is synchronous, as state resolution's event lookup must be.
import { parseStoredPdu } from '../matrix/events/index.js';
import { roomVersion as lookupRoomVersion, type RoomVersion } from '../matrix/events/room-versions.js';
import { stateSlot, type Pdu, type RoomEvent, type StateMap } from '../matrix/events/types.js';
import { domainOf } from './identity.js';
import { stateGroups, type StateGroups } from './state-groups.js';
import type { RoomRecord, RoomStore, StoredEvent } from './store.js';

const PARSED_CACHE_SIZE = 2_000;

export interface RoomData {
  readonly store: RoomStore;
  readonly groups: StateGroups;
  room(roomId: string): RoomRecord | undefined;
  /** The room's version rules; throws for a room the store does not hold. */
  version(roomId: string): RoomVersion;
  putRoom(record: RoomRecord): void;
  stored(eventId: string): StoredEvent | undefined;
  /** The event as parsed for its room's version (rejected ones too), or undefined when unknown. */
  event(eventId: string): RoomEvent | undefined;
  isRejected(eventId: string): boolean;
  /** Stores an event record; `parsed` seeds the cache. */
  putEvent(record: StoredEvent, parsed?: RoomEvent): void;
  /** State before a non-outlier event. */
  stateBefore(eventId: string): StateMap | undefined;
  /** State after a non-outlier event: the state before it plus itself when it is an accepted state event. */
  stateAfter(eventId: string): StateMap | undefined;
  currentState(roomId: string): StateMap;
  /** The events of `state` for the given slots (missing slots left out). */
  stateEvents(state: StateMap, slots?: Iterable<string>): Map<string, RoomEvent>;
  /** A user's membership in a state ('join', 'invite', 'leave', 'ban', 'knock') or undefined. */
  membership(state: StateMap, userId: string): string | undefined;
  /** Servers with at least one joined member in a state. */
  joinedServers(state: StateMap): Set<string>;
  /** The auth chain of the given events: their auth events, recursively (the events themselves left out). */
  authChain(eventIds: Iterable<string>, limit?: number): RoomEvent[];
  /** The same as IDs, walked through the stored records without parsing an event (what the answers to other servers need). */
  authChainIds(eventIds: Iterable<string>, limit?: number): string[];
  /** The stored PDUs of events (unknown IDs left out), unparsed. */
  pdus(eventIds: Iterable<string>): Pdu[];
  /** Appends an event to its room's timeline and returns the position. */
  nextStream(roomId: string): number;
}

const MEMBER_SLOT = 'm.room.member\u0000';

/** The event IDs a stored PDU names in `field`: plain IDs, or `[id, hashes]` pairs in room versions 1 and 2. */
function refIds(pdu: Pdu, field: 'auth_events' | 'prev_events'): string[] {
  const refs = pdu[field];
  if (!Array.isArray(refs)) return [];
  return refs.map((r) => (Array.isArray(r) ? r[0] : r)).filter((id): id is string => typeof id === 'string');
}

export function roomData(store: RoomStore): RoomData {
  // Servers joined in a state, per state map: the maps of state groups are shared and never change.
  const joinedMemo = new WeakMap<StateMap, Set<string>>();
  const groups = stateGroups(store);
  const parsed = new Map<string, RoomEvent>();
  const remember = (event: RoomEvent) => {
    parsed.delete(event.eventId);
    parsed.set(event.eventId, event);
    if (parsed.size > PARSED_CACHE_SIZE) parsed.delete(parsed.keys().next().value!);
  };

  const data: RoomData = {
    store,
    groups,
    room: (roomId) => store.rooms.get(roomId),
    version(roomId) {
      const record = store.rooms.get(roomId);
      const version = record && lookupRoomVersion(record.version);
      if (!version) throw new Error(`room ${roomId} is not in the room store`);
      return version;
    },
    putRoom: (record) => store.rooms.put(record.roomId, record),
    stored: (eventId) => store.events.get(eventId),
    event(eventId) {
      const hit = parsed.get(eventId);
      if (hit) return hit;
      const record = store.events.get(eventId);
      if (!record) return undefined;
      const version = lookupRoomVersion(store.rooms.get(record.roomId)?.version ?? '');
      if (!version) return undefined;
      // Stored events passed the format checks once: read back without them (a large room's state resolution reads thousands).
      const event = parseStoredPdu(record.pdu, version, eventId);
      remember(event);
      return event;
    },
    isRejected: (eventId) => store.events.get(eventId)?.status === 'rejected',
    putEvent(record, event) {
      store.events.put(record.eventId, record);
      if (event) remember(event);
    },
    stateBefore(eventId) {
      const group = store.events.get(eventId)?.stateBefore;
      return group === undefined ? undefined : groups.get(group);
    },
    stateAfter(eventId) {
      const record = store.events.get(eventId);
      if (record?.stateBefore === undefined) return undefined;
      const before = groups.get(record.stateBefore);
      if (record.status !== 'accepted') return before;
      const event = data.event(eventId);
      if (event?.stateKey === undefined) return before;
      const after = new Map(before);
      after.set(stateSlot(event.type, event.stateKey), eventId);
      return after;
    },
    currentState(roomId) {
      const record = store.rooms.get(roomId);
      return record ? groups.get(record.stateGroup) : new Map();
    },
    stateEvents(state, slots) {
      const out = new Map<string, RoomEvent>();
      for (const slot of slots ?? state.keys()) {
        const id = state.get(slot);
        const event = id === undefined ? undefined : data.event(id);
        if (event) out.set(slot, event);
      }
      return out;
    },
    membership(state, userId) {
      const id = state.get(stateSlot('m.room.member', userId));
      const membership = id === undefined ? undefined : data.event(id)?.content.membership;
      return typeof membership === 'string' ? membership : undefined;
    },
    joinedServers(state) {
      const memo = joinedMemo.get(state);
      if (memo) return new Set(memo);
      // From the stored records, unparsed: a large room's members are read on every request of another server.
      const servers = new Set<string>();
      for (const [slot, id] of state) {
        if (!slot.startsWith(MEMBER_SLOT)) continue;
        const content = store.events.get(id)?.pdu.content as { membership?: unknown } | undefined;
        if (content?.membership === 'join') servers.add(domainOf(slot.slice(MEMBER_SLOT.length)));
      }
      joinedMemo.set(state, servers);
      return new Set(servers);
    },
    authChain(eventIds, limit) {
      return data.authChainIds(eventIds, limit).flatMap((id) => data.event(id) ?? []);
    },
    authChainIds(eventIds, limit = 100_000) {
      const seen = new Set<string>();
      const out: string[] = [];
      const todo: string[] = [];
      for (const id of eventIds) {
        const record = store.events.get(id);
        if (record) todo.push(...refIds(record.pdu, 'auth_events'));
      }
      while (todo.length > 0 && out.length < limit) {
        const id = todo.pop()!;
        if (seen.has(id)) continue;
        seen.add(id);
        const record = store.events.get(id);
        if (!record) continue;
        out.push(id);
        todo.push(...refIds(record.pdu, 'auth_events'));
      }
      return out;
    },
    pdus(eventIds) {
      const out: Pdu[] = [];
      for (const id of eventIds) {
        const record = store.events.get(id);
        if (record) out.push(record.pdu);
      }
      return out;
    },
    nextStream(roomId) {
      const record = store.rooms.get(roomId)!;
      const stream = record.stream + 1;
      store.rooms.put(roomId, { ...record, stream });
      return stream;
    },
  };
  return data;
}
