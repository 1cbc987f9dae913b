// What a homeserver asks of a room participant: single events, the state at
// an event (full or as IDs), an event's auth chain, backfill and missing
// events walked back through prev_events, the room directory, and empty
// device lists. Room data goes only to servers with a member in the room.
import { badJson, forbidden, notFound } from '../matrix/errors.js';
import type { Pdu, RoomEvent, StateMap } from '../matrix/events/types.js';
import type { RoomContext } from './context.js';
import { domainOf } from './identity.js';

/** Most events /backfill and /get_missing_events return at once. */
export const MAX_WALK_EVENTS = 100;
/** Events /get_missing_events starts from (Synapse's own requests name one). */
export const MAX_LATEST_EVENTS = 20;
/** Events a walk may look at per event it returns: bounds the walk through a wide DAG. */
const MAX_QUEUED_PER_RESULT = 50;

/** A max-heap of events by depth (ties by event ID, so answers are stable). */
function depthHeap() {
  const items: RoomEvent[] = [];
  const before = (a: RoomEvent, b: RoomEvent) => a.depth > b.depth || (a.depth === b.depth && a.eventId < b.eventId);
  return {
    push(e: RoomEvent) {
      items.push(e);
      for (let i = items.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!before(items[i]!, items[parent]!)) break;
        [items[i], items[parent]] = [items[parent]!, items[i]!];
        i = parent;
      }
    },
    pop(): RoomEvent | undefined {
      const top = items[0];
      const last = items.pop();
      if (items.length > 0 && last) {
        items[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < items.length && before(items[l]!, items[m]!)) m = l;
          if (r < items.length && before(items[r]!, items[m]!)) m = r;
          if (m === i) break;
          [items[i], items[m]] = [items[m]!, items[i]!];
          i = m;
        }
      }
      return top;
    },
  };
}

export interface Queries {
  event(origin: string, eventId: string): { origin: string; origin_server_ts: number; pdus: Pdu[] };
  state(origin: string, roomId: string, eventId: string): { pdus: Pdu[]; auth_chain: Pdu[] };
  stateIds(origin: string, roomId: string, eventId: string): { pdu_ids: string[]; auth_chain_ids: string[] };
  eventAuth(origin: string, roomId: string, eventId: string): { auth_chain: Pdu[] };
  backfill(origin: string, roomId: string, from: readonly string[], limit: number): { origin: string; origin_server_ts: number; pdus: Pdu[] };
  missingEvents(origin: string, roomId: string, body: unknown): { events: Pdu[] };
  directory(alias: string): { room_id: string; servers: string[] };
}

export function createQueries(ctx: RoomContext): Queries {
  const { data, identity } = ctx;

  /** The origin must have had a member in the room: joined now, or at the event asked about. */
  function requireParticipant(origin: string, roomId: string, atEvent?: string): void {
    if (!data.room(roomId)) throw notFound(`Unknown room ${roomId}`);
    if (data.joinedServers(data.currentState(roomId)).has(origin)) return;
    const at = atEvent === undefined ? undefined : data.stateAfter(atEvent);
    if (at && data.joinedServers(at).has(origin)) return;
    throw forbidden(`${origin} is not in room ${roomId}`);
  }

  function knownEvent(roomId: string | undefined, eventId: string): RoomEvent {
    const record = data.stored(eventId);
    if (!record || (roomId !== undefined && record.roomId !== roomId) || record.status === 'rejected') throw notFound(`Unknown event ${eventId}`);
    return data.event(eventId)!;
  }

  function stateAt(roomId: string, eventId: string): StateMap {
    knownEvent(roomId, eventId);
    const state = data.stateBefore(eventId);
    if (!state) throw notFound(`No state known at ${eventId}`);
    return state;
  }

  /**
   * Events reachable backwards from `from` through prev_events, deepest
   * first, stopping at `stop`. Each event is queued once and taken from a
   * heap, so the work is O(k log k) in the events looked at, however many
   * prev events each names (a DAG a hostile member made as wide as it could).
   */
  function walkBack(from: readonly string[], limit: number, stop: ReadonlySet<string> = new Set(), minDepth = 0): RoomEvent[] {
    const out: RoomEvent[] = [];
    const queued = new Set<string>(stop);
    const heap = depthHeap();
    const enqueue = (id: string) => {
      if (queued.has(id) || queued.size - stop.size >= limit * MAX_QUEUED_PER_RESULT) return;
      queued.add(id);
      if (data.stored(id)?.status === 'rejected') return;
      const e = data.event(id);
      if (e) heap.push(e);
    };
    for (const id of from) enqueue(id);
    for (let e = heap.pop(); e !== undefined && out.length < limit; e = heap.pop()) {
      if (e.depth < minDepth) continue;
      out.push(e);
      for (const id of e.prevEvents) enqueue(id);
    }
    return out;
  }

  return {
    event(origin, eventId) {
      const event = knownEvent(undefined, eventId);
      requireParticipant(origin, event.roomId, eventId);
      return { origin: identity.serverName, origin_server_ts: ctx.now(), pdus: [event.pdu] };
    },
    state(origin, roomId, eventId) {
      requireParticipant(origin, roomId, eventId);
      const state = stateAt(roomId, eventId);
      return { pdus: data.pdus(state.values()), auth_chain: data.pdus(data.authChainIds(state.values())) };
    },
    stateIds(origin, roomId, eventId) {
      requireParticipant(origin, roomId, eventId);
      const state = stateAt(roomId, eventId);
      return { pdu_ids: [...state.values()], auth_chain_ids: data.authChainIds(state.values()) };
    },
    eventAuth(origin, roomId, eventId) {
      requireParticipant(origin, roomId, eventId);
      knownEvent(roomId, eventId);
      return { auth_chain: data.pdus(data.authChainIds([eventId])) };
    },
    backfill(origin, roomId, from, limit) {
      requireParticipant(origin, roomId);
      for (const id of from) knownEvent(roomId, id);
      const events = walkBack(from, Math.min(Math.max(1, limit), MAX_WALK_EVENTS));
      return { origin: identity.serverName, origin_server_ts: ctx.now(), pdus: events.map((e) => e.pdu) };
    },
    missingEvents(origin, roomId, body) {
      requireParticipant(origin, roomId);
      const b = body as { earliest_events?: unknown; latest_events?: unknown; limit?: unknown; min_depth?: unknown } | null;
      const ids = (v: unknown, name: string) => {
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'string') || v.length > 1000) throw badJson(`${name}: expected an array of event IDs`);
        return v as string[];
      };
      const earliest = new Set(ids(b?.earliest_events ?? [], 'earliest_events'));
      const latest = ids(b?.latest_events, 'latest_events').slice(0, MAX_LATEST_EVENTS);
      const limit = typeof b?.limit === 'number' && Number.isInteger(b.limit) ? Math.min(Math.max(b.limit, 0), MAX_WALK_EVENTS) : 10;
      const minDepth = typeof b?.min_depth === 'number' ? b.min_depth : 0;
      // The latest events themselves are not returned, only what lies between them and the earliest.
      const start = latest.flatMap((id) => data.event(id)?.prevEvents ?? []);
      const events = walkBack(start, limit, earliest, minDepth);
      return { events: events.reverse().map((e) => e.pdu) };
    },
    directory(alias) {
      if (domainOf(alias) !== identity.serverName) throw notFound(`Room alias ${alias} is not on ${identity.serverName}`);
      const roomId = data.store.aliases.get(alias);
      if (!roomId) throw notFound(`Room alias ${alias} not found`);
      const servers = [...data.joinedServers(data.currentState(roomId))];
      return { room_id: roomId, servers: [identity.serverName, ...servers.filter((s) => s !== identity.serverName)] };
    },
  };
}
