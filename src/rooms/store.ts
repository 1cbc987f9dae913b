// The room store: every room, event, state snapshot, received transaction
// ID and outbound queue entry of one identity, in one LMDB environment under
// data_dir (lmdb: a copy-on-write B-tree, so a process killed at any moment
// leaves the last committed transaction intact; synchronous reads, which state
// resolution's synchronous `getEvent` needs).
//
// Writes go through a write set: each put is visible to reads at once (an
// overlay in memory) and lands on disk in one LMDB transaction per `commit()`,
// so one received /send transaction is all-or-nothing on disk and costs one
// commit, not one per PDU.
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Pdu } from '../matrix/events/types.js';
import { lmdbFileProblem } from './lmdb-header.js';
import type { RoomVersionId } from '../matrix/events/room-versions.js';

/** What became of an event fedpeer holds. */
export type EventStatus =
  /** Passed every check; part of the room's DAG and timeline. */
  | 'accepted'
  /** Authorised by its auth events and the state before it, but not by the current state: kept in the DAG, not forwarded. */
  | 'soft-failed'
  /** Failed a check; kept (with the reason) so it is not fetched or processed again. */
  | 'rejected'
  /** Known (an auth or state event of a join, a fetched auth event) without its place in the DAG. */
  | 'outlier';

export interface StoredEvent {
  readonly eventId: string;
  readonly roomId: string;
  /** As received, or its redacted form when the content hash did not match. */
  readonly pdu: Pdu;
  readonly status: EventStatus;
  /** Why it was rejected or soft-failed, or that it was redacted on receipt. */
  readonly reason?: string;
  /** The m.room.redaction applied to it: `pdu` is then its redacted form (redactions.ts). */
  readonly redactedBy?: string;
  /** The state group holding the room's state before this event (non-outliers). */
  readonly stateBefore?: number;
  /** Position in the room's timeline (accepted and soft-failed events; negative for backfilled outliers, backfill.ts). */
  readonly stream?: number;
  readonly receivedTs: number;
}

export interface RoomRecord {
  readonly roomId: string;
  readonly version: RoomVersionId;
  /** Events with no known child: the prev_events of the next local event. */
  readonly extremities: readonly string[];
  /** The state group of the room's current state (the extremities' states resolved). */
  readonly stateGroup: number;
  /** Greatest depth seen in the DAG. */
  readonly depth: number;
  /** Last timeline position given out. */
  readonly stream: number;
  /** Lowest (negative) timeline position given to backfilled history (backfill.ts); absent before any. */
  readonly backfillStream?: number;
  readonly createdTs: number;
}

/** A state snapshot: `entries` applied over the group `prev` (or over nothing). */
export interface StateGroupRecord {
  readonly prev: number | null;
  /** [slot, eventId] pairs; a full snapshot when prev is null. */
  readonly entries: ReadonlyArray<readonly [string, string]>;
  /** Deltas between this group and the last full snapshot. */
  readonly chain: number;
}

export type QueueItem = { readonly kind: 'pdu'; readonly eventId: string } | { readonly kind: 'edu'; readonly edu: Record<string, unknown> };

export interface ReceivedEdu {
  readonly seq: number;
  readonly origin: string;
  readonly edu: Record<string, unknown>;
  readonly receivedTs: number;
}

export interface InviteRecord {
  readonly roomId: string;
  readonly version: RoomVersionId;
  /** The invite event as co-signed by us. */
  readonly event: Pdu;
  readonly inviteRoomState: readonly unknown[];
  readonly receivedTs: number;
  /** Its place in the invites' eviction order (bounded-log.ts). */
  readonly seq?: number;
}

export type Key = string | number | Array<string | number>;

interface Table<K extends Key, V> {
  get(key: K): V | undefined;
  put(key: K, value: V): void;
  remove(key: K): void;
  /** Entries with keys in [start, end), committed ones merged with the write set. */
  range(start: K, end: K, opts?: { reverse?: boolean; limit?: number }): Array<{ key: K; value: V }>;
}

export interface RoomStore {
  readonly rooms: Table<string, RoomRecord>;
  readonly events: Table<string, StoredEvent>;
  /** [roomId, stream] -> eventId */
  readonly timeline: Table<[string, number], string>;
  readonly stateGroups: Table<number, StateGroupRecord>;
  readonly aliases: Table<string, string>;
  /** [origin, txnId] -> the answer given, bounded per origin, over all and in age (limits.ts, bounded-log.ts) */
  readonly transactions: Table<[string, string], { response: unknown; receivedTs: number }>;
  /** [destination, seq] -> item */
  readonly queue: Table<[string, number], QueueItem>;
  /** seq -> EDU, bounded per origin and over all (limits.ts, bounded-log.ts) */
  readonly edus: Table<number, ReceivedEdu>;
  readonly invites: Table<string, InviteRecord>;
  /** [redacted event ID, redaction event ID] -> room ID: accepted redactions, kept for targets that arrive later. */
  readonly redactions: Table<[string, string], string>;
  /** The bounded tables' eviction order (bounded-log.ts). */
  readonly bounds: Table<Array<string | number>, unknown>;
  /** Counters and the schema version. */
  readonly meta: Table<string, number>;
  /** Next value of a persistent counter (state groups, queue and EDU sequences). */
  next(counter: 'stateGroup' | 'queue' | 'edu'): number;
  /** Writes everything put since the last commit in one LMDB transaction; resolves once it is on disk. */
  commit(): Promise<void>;
  /** Writes not yet committed. */
  readonly pending: number;
  close(): Promise<void>;
}

const SCHEMA_VERSION = 1;

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/**
 * Opens (creating when needed) the store in `dir`. `mapSize` bounds the file;
 * LMDB grows it as needed up to that.
 */
export function openRoomStore(dir: string): RoomStore {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const damaged = lmdbFileProblem(dir);
  if (damaged) throw new StoreError(`cannot open the room store: ${damaged}. Move ${dir} aside to start with an empty store, or restore it from a backup.`);
  let root: RootDatabase;
  try {
    // overlappingSync off: a commit resolves once it is on disk, and measured here it is also the faster
    // of the two for one small transaction at a time (docs/PERFORMANCE.md).
    // maxDbs: the tables below and room to grow (lmdb's default is 12).
    root = open({ path: dir, encoding: 'json', compression: false, overlappingSync: false, maxDbs: 32 });
  } catch (e) {
    throw new StoreError(`cannot open the room store in ${dir}: ${(e as Error).message}. Check that the directory is writable and not in use by another fedpeer.`);
  }
  // Writes not yet committed, per table: JSON of the key -> value (undefined = removed).
  const overlay = new Map<string, Map<string, { key: Key; value: unknown }>>();
  let ops: Array<() => void> = [];
  let committing: Promise<void> = Promise.resolve();

  // Reads decode JSON; the hot tables keep their most recently read values
  // (stored values are never mutated, so a cached object stays right until the next put).
  function table<K extends Key, V>(name: string, cacheSize = 0): Table<K, V> {
    const db = root.openDB<V, K>({ name, encoding: 'json' }) as unknown as Database<V, K>;
    const mine = new Map<string, { key: Key; value: unknown }>();
    overlay.set(name, mine);
    const cache = new Map<string, V | undefined>();
    const id = (key: K) => (typeof key === 'string' ? key : JSON.stringify(key));
    const remember = (k: string, value: V | undefined) => {
      if (cacheSize === 0) return;
      cache.delete(k);
      cache.set(k, value);
      if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    };
    return {
      get(key) {
        const k = id(key);
        const o = mine.get(k);
        if (o) return o.value as V | undefined;
        if (cache.has(k)) return cache.get(k);
        const value = db.get(key);
        remember(k, value);
        return value;
      },
      put(key, value) {
        const k = id(key);
        mine.set(k, { key, value });
        remember(k, value);
        ops.push(() => void db.put(key, value));
      },
      remove(key) {
        const k = id(key);
        mine.set(k, { key, value: undefined });
        remember(k, undefined);
        ops.push(() => void db.remove(key));
      },
      range(start, end, opts = {}) {
        const reverse = opts.reverse ?? false;
        const limit = opts.limit ?? Infinity;
        const committed = db.getRange(reverse ? { start: end, end: start, reverse: true } : { start, end });
        const out: Array<{ key: K; value: V }> = [];
        // Overlay entries in range, merged in key order with the committed ones.
        const inRange = [...mine.values()].filter((o) => compareKeys(o.key, start) >= 0 && compareKeys(o.key, end) < 0);
        inRange.sort((a, b) => compareKeys(a.key, b.key) * (reverse ? -1 : 1));
        const shadowed = new Set(inRange.map((o) => id(o.key as K)));
        let i = 0;
        const pushOverlay = (o: { key: Key; value: unknown }) => {
          if (o.value !== undefined) out.push({ key: o.key as K, value: o.value as V });
        };
        for (const { key, value } of committed) {
          while (i < inRange.length && compareKeys(inRange[i]!.key, key as Key) * (reverse ? -1 : 1) < 0) {
            pushOverlay(inRange[i++]!);
            if (out.length >= limit) return out;
          }
          if (!shadowed.has(id(key))) out.push({ key, value });
          if (out.length >= limit) return out;
        }
        while (i < inRange.length && out.length < limit) pushOverlay(inRange[i++]!);
        return out;
      },
    };
  }

  const meta = table<string, number>('meta', 100);
  const stored = meta.get('schema');
  if (stored !== undefined && stored !== SCHEMA_VERSION) {
    throw new StoreError(`the room store in ${dir} has schema ${stored}; this fedpeer reads schema ${SCHEMA_VERSION}. Move the directory aside to start empty.`);
  }
  if (stored === undefined) meta.put('schema', SCHEMA_VERSION);

  const store: RoomStore = {
    rooms: table('rooms', 1_000),
    events: table('events', 2_000),
    timeline: table('timeline'),
    stateGroups: table('state_groups', 1_000),
    aliases: table('aliases'),
    transactions: table('transactions'),
    queue: table('queue'),
    edus: table('edus'),
    invites: table('invites'),
    redactions: table('redactions'),
    bounds: table('bounds'),
    meta,
    next(counter) {
      const value = (meta.get(`next_${counter}`) ?? 0) + 1;
      meta.put(`next_${counter}`, value);
      return value;
    },
    get pending() {
      return ops.length;
    },
    commit() {
      if (ops.length === 0) return committing;
      const batch = ops;
      const written = [...overlay].map(([name, m]) => [name, new Map(m)] as const);
      ops = [];
      const done = root.transaction(() => {
        for (const op of batch) op();
      });
      committing = done.then(() => {
        // Entries rewritten since this batch stay in the overlay until their own commit.
        for (const [name, entries] of written) {
          const m = overlay.get(name)!;
          for (const [k, v] of entries) if (m.get(k) === v) m.delete(k);
        }
      });
      return committing;
    },
    async close() {
      await store.commit();
      await root.close();
    },
  };
  return store;
}

/** The order lmdb's ordered-binary keys sort in, for the key shapes used here. */
export function compareKeys(a: Key, b: Key): number {
  const x = Array.isArray(a) ? a : [a];
  const y = Array.isArray(b) ? b : [b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    // Numbers sort before strings in ordered-binary.
    if (typeof p !== typeof q) return typeof p === 'number' ? -1 : 1;
    if (typeof p === 'number') return p - (q as number);
    return Buffer.compare(Buffer.from(p, 'utf8'), Buffer.from(q as string, 'utf8'));
  }
  return x.length - y.length;
}
