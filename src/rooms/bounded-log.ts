// The eviction order of a table other servers add to (received transaction
// IDs, EDUs, invites): entries in arrival order, at most `perGroup` of one
// group (an origin server) and `total` over all, and none older than `ttlMs`
// when given. Adding past a bound evicts the oldest entry of the group, or
// the oldest of all; `drop` removes it from its own table. One server
// flooding a table thus evicts its own entries first and can push out
// others' only by the total. The order lives in the store's `bounds` table
// (so it survives restarts and commits with the entries):
//   [name, 0, seq]         -> {group, key, ts}   arrival order over all
//   [name, 1, group, seq]  -> key                arrival order per group
//   [name, 2, group]       -> entries of the group
// and the meta counters `bounds:<name>:next` and `bounds:<name>:count`.
import type { RoomStore } from './store.js';

export interface BoundedLogOptions {
  perGroup: number;
  total: number;
  ttlMs?: number;
  /** Removes an evicted entry from the table it belongs to. */
  drop: (group: string, key: string, seq: number) => void;
}

export interface BoundedLog {
  /** Records an entry (evicting what the bounds require); returns its sequence number. */
  add(group: string, key: string, ts: number): number;
  /** Evicts entries older than the TTL. */
  prune(now: number): void;
  /** Entries kept, over all. */
  readonly size: number;
  /** Whether the log was ever written (false for a store from before it existed). */
  readonly started: boolean;
}

const END = Number.MAX_SAFE_INTEGER;
interface Entry {
  group: string;
  key: string;
  ts: number;
}

export function boundedLog(store: RoomStore, name: string, opts: BoundedLogOptions): BoundedLog {
  const { bounds, meta } = store;
  const nextKey = `bounds:${name}:next`;
  const countKey = `bounds:${name}:count`;
  const count = () => meta.get(countKey) ?? 0;

  function evict(seq: number): void {
    const entry = bounds.get([name, 0, seq]) as Entry | undefined;
    if (!entry) return;
    bounds.remove([name, 0, seq]);
    bounds.remove([name, 1, entry.group, seq]);
    const left = ((bounds.get([name, 2, entry.group]) as number | undefined) ?? 1) - 1;
    if (left > 0) bounds.put([name, 2, entry.group], left);
    else bounds.remove([name, 2, entry.group]);
    meta.put(countKey, count() - 1);
    opts.drop(entry.group, entry.key, seq);
  }

  const oldest = () => bounds.range([name, 0, 0], [name, 0, END], { limit: 1 })[0];

  return {
    add(group, key, ts) {
      const seq = (meta.get(nextKey) ?? 0) + 1;
      meta.put(nextKey, seq);
      bounds.put([name, 0, seq], { group, key, ts } satisfies Entry);
      bounds.put([name, 1, group, seq], key);
      const inGroup = ((bounds.get([name, 2, group]) as number | undefined) ?? 0) + 1;
      bounds.put([name, 2, group], inGroup);
      meta.put(countKey, count() + 1);
      if (inGroup > opts.perGroup) {
        const first = bounds.range([name, 1, group, 0], [name, 1, group, END], { limit: 1 })[0];
        if (first) evict(first.key[3] as number);
      }
      while (count() > opts.total) {
        const first = oldest();
        if (!first) break;
        evict(first.key[2] as number);
      }
      return seq;
    },
    prune(now) {
      if (opts.ttlMs === undefined) return;
      for (let first = oldest(); first && (first.value as Entry).ts < now - opts.ttlMs; first = oldest()) evict(first.key[2] as number);
    },
    get size() {
      return count();
    },
    get started() {
      return meta.get(nextKey) !== undefined;
    },
  };
}
