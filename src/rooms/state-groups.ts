// Room state at each event, stored as state groups: a group is a delta of
// slots over a previous group, with a full snapshot every SNAPSHOT_EVERY
// deltas so reading one never walks far. Events that change no state share
// their parent's group, so a room's state costs one small record per state
// event plus a snapshot now and then, not a full copy per event.
import type { StateMap } from '../matrix/events/types.js';
import type { RoomStore } from './store.js';

export const SNAPSHOT_EVERY = 32;
const CACHE_SIZE = 512;

export interface StateGroups {
  /** The full state of a group. */
  get(group: number): StateMap;
  /** A group for `state`; `base` (a group whose state is close to it) makes it a small delta. */
  create(state: StateMap, base?: number): number;
  /** The group of `base` with `changes` applied (the state after a state event). */
  extend(base: number, changes: ReadonlyArray<readonly [string, string]>): number;
}

export function stateGroups(store: RoomStore): StateGroups {
  // Resolved groups, most recently used last; groups never change once written.
  const cache = new Map<number, StateMap>();
  const remember = (group: number, state: StateMap) => {
    cache.delete(group);
    cache.set(group, state);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
  };

  function get(group: number): StateMap {
    const hit = cache.get(group);
    if (hit) {
      remember(group, hit);
      return hit;
    }
    const chain = [];
    let id: number | null = group;
    let base: StateMap | undefined;
    while (id !== null) {
      const cached = cache.get(id);
      if (cached) {
        base = cached;
        break;
      }
      const record = store.stateGroups.get(id);
      if (!record) throw new Error(`state group ${id} is missing from the room store`);
      chain.push(record);
      id = record.prev;
    }
    const state = new Map(base);
    for (let i = chain.length - 1; i >= 0; i--) for (const [slot, eventId] of chain[i]!.entries) state.set(slot, eventId);
    remember(group, state);
    return state;
  }

  function write(prev: number | null, entries: Array<readonly [string, string]>, chain: number, full: StateMap): number {
    const id = store.next('stateGroup');
    store.stateGroups.put(id, { prev, entries, chain });
    remember(id, full);
    return id;
  }

  function snapshot(state: StateMap): number {
    return write(null, [...state], 0, new Map(state));
  }

  return {
    get,
    create(state, base) {
      if (base === undefined) return snapshot(state);
      const from = get(base);
      // The state of the base group itself (an event that changes no state): nothing to compare.
      if (state === from) return base;
      const changes: Array<readonly [string, string]> = [];
      for (const [slot, eventId] of state) if (from.get(slot) !== eventId) changes.push([slot, eventId]);
      // A slot that disappears cannot be a delta; state only loses slots when it is resolved from scratch.
      for (const slot of from.keys()) if (!state.has(slot)) return snapshot(state);
      if (changes.length === 0) return base;
      const record = store.stateGroups.get(base)!;
      if (record.chain + 1 >= SNAPSHOT_EVERY || changes.length > state.size / 2) return snapshot(state);
      return write(base, changes, record.chain + 1, new Map(state));
    },
    extend(base, changes) {
      const from = get(base);
      const next = new Map(from);
      for (const [slot, eventId] of changes) next.set(slot, eventId);
      return this.create(next, base);
    },
  };
}
