// The room peer of one identity: its store, queue and the parts of rooms/
// put together. The federation routes call its inbound side; the library
// (src/index.ts) and later the control API call the rest.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { JsonObject } from '../matrix/canonical-json.js';
import type { RoomEvent } from '../matrix/events/types.js';
import { splitStateSlot } from '../matrix/events/types.js';
import { MatrixError, notFound } from '../matrix/errors.js';

import type { FederationRequest, RoomContext } from './context.js';
import { createAdmission, type Admission } from './admission.js';
import { buildEvent, type BuildEventOptions, type BuiltEvent } from './build-event.js';
import { createRoom, type CreateRoomOptions } from './create-room.js';
import type { EventKeySource } from './event-keys.js';
import type { PeerHooks } from './hooks.js';
import type { PeerIdentity } from './identity.js';
import { createInbound } from './inbound.js';
import { createJoining, type Joining } from './joining.js';
import { sendLocalEvent } from './local-events.js';
import { redactAsLocalUser } from './local-redaction.js';
import { withRedactedBecause } from './redactions.js';
import { roomLimits, type RoomLimits } from './limits.js';
import { keyedLock } from './locks.js';
import { createOutboundQueue, type OutboundQueue, type TransactionBody } from './outbound-queue.js';
import { createQueries, type Queries } from './queries.js';
import { createResident, type Resident } from './resident.js';
import { roomData, type RoomData } from './room-data.js';
import { openRoomStore, type EventStatus, type InviteRecord, type RoomStore, type StoredEvent } from './store.js';
import { createTransactions, type Transactions } from './transactions.js';

/** One event of a room's timeline as the peer knows it. */
export interface TimelineEvent {
  eventId: string;
  roomId: string;
  type: string;
  sender: string;
  stateKey?: string;
  content: JsonObject;
  originServerTs: number;
  depth: number;
  status: EventStatus;
  /** Why it was soft-failed, or that it was redacted on receipt. */
  reason?: string;
  /** The m.room.redaction applied to it: `content` and `pdu` are then its redacted form. */
  redactedBy?: string;
  /** The event in its wire form (a redacted one with the redaction in `unsigned.redacted_because`). */
  pdu: JsonObject;
}

export interface StateEntry {
  type: string;
  stateKey: string;
  eventId: string;
  sender: string;
  content: JsonObject;
}

export interface RoomPeerOptions {
  identity: PeerIdentity;
  /** Directory of the store (`data_dir/rooms`), or a store already open. */
  store: string | RoomStore;
  /** Outbound federation requests, signed as `identity`. */
  request: FederationRequest;
  keys: EventKeySource;
  logger: Logger;
  now?: () => number;
  randomId?: () => string;
  hooks?: PeerHooks;
  /** Forgets the federation client's backoff for a destination (called when it is heard from). */
  resetBackoff?: (destination: string) => void;
  /** Outbound retry: first delay (default 2 s), doubling to at most maxRetryMs (1 h). */
  queueRetry?: { initialMs?: number; maxMs?: number };
  /** Bounds on the work done for other servers (default DEFAULT_ROOM_LIMITS); tests tighten them. */
  limits?: Partial<RoomLimits>;
}

export interface RoomPeer {
  readonly identity: PeerIdentity;
  /** Assign hooks here (e.g. `peer.hooks.onMakeJoin = () => ({reject: {status: 403, errcode: 'M_FORBIDDEN'}})`). */
  readonly hooks: PeerHooks;
  readonly data: RoomData;
  readonly queue: OutboundQueue;
  /** Inbound federation: what the routes call. */
  readonly transactions: Transactions;
  readonly resident: Resident;
  readonly queries: Queries;
  readonly joining: Joining;
  /** Fair shares of the room endpoints (but /send) between the servers asking. */
  readonly admission: Admission;

  createRoom(opts: CreateRoomOptions): Promise<{ roomId: string; alias?: string }>;
  join(userId: string, roomIdOrAlias: string, opts?: { via?: readonly string[] }): Promise<{ roomId: string; eventId: string }>;
  leave(userId: string, roomId: string): Promise<{ eventId: string }>;
  invite(sender: string, roomId: string, userId: string): Promise<{ eventId: string }>;
  /** A message event (an m.text message when `content` is a string). */
  send(sender: string, roomId: string, content: string | JsonObject, type?: string): Promise<{ eventId: string }>;
  sendState(sender: string, roomId: string, type: string, stateKey: string, content: JsonObject): Promise<{ eventId: string }>;
  /** An m.room.redaction of `eventId` (403 unless `sender` has the room's redact level or sent the event). */
  redact(sender: string, roomId: string, eventId: string, reason?: string): Promise<{ eventId: string }>;
  /** The timeline: backfilled history (status 'outlier') then accepted events, and with `all` soft-failed ones too. */
  events(roomId: string, opts?: { all?: boolean }): TimelineEvent[];
  /** The room's current state. */
  state(roomId: string): StateEntry[];
  /**
   * Resolves with the first timeline event (existing or future) the predicate
   * accepts; rejects after `timeout` ms (default 10 s), or with the signal's
   * reason once it aborts.
   */
  waitForEvent(roomId: string, predicate: (event: TimelineEvent) => boolean, opts?: { timeout?: number; signal?: AbortSignal }): Promise<TimelineEvent>;
  /** An event made to order (any field, chosen prev/auth events, bad signatures or hashes); not stored or sent. */
  buildEvent(opts: BuildEventOptions): BuiltEvent;
  /** Invites our users hold and have not acted on. */
  invites(userId?: string): InviteRecord[];
  /** Room IDs the store holds. */
  rooms(): string[];
  /**
   * A server was heard from (an authenticated request): it is up, so what
   * waits for it goes now rather than at the end of its backoff, as Synapse does.
   */
  originSeen(origin: string): void;
  close(): Promise<void>;
}

export function createRoomPeer(opts: RoomPeerOptions): RoomPeer {
  const store = typeof opts.store === 'string' ? openRoomStore(opts.store) : opts.store;
  const data = roomData(store);
  const now = opts.now ?? Date.now;
  const hooks: PeerHooks = opts.hooks ?? {};
  const waiters = new Set<(e: TimelineEvent) => void>();
  const request = opts.request;
  const queue = createOutboundQueue({
    store,
    origin: opts.identity.serverName,
    logger: opts.logger,
    now,
    ...(opts.queueRetry?.initialMs !== undefined ? { initialRetryMs: opts.queueRetry.initialMs } : {}),
    ...(opts.queueRetry?.maxMs !== undefined ? { maxRetryMs: opts.queueRetry.maxMs } : {}),
    send: (destination, txnId, body: TransactionBody) => request(destination, 'PUT', `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, { body }),
  });

  const toTimeline = (event: RoomEvent, status: EventStatus, record: StoredEvent | undefined): TimelineEvent => ({
    eventId: event.eventId,
    roomId: event.roomId,
    type: event.type,
    sender: event.sender,
    ...(event.stateKey !== undefined ? { stateKey: event.stateKey } : {}),
    content: event.content,
    originServerTs: event.originServerTs,
    depth: event.depth,
    status,
    ...(record?.reason !== undefined ? { reason: record.reason } : {}),
    ...(record?.redactedBy !== undefined ? { redactedBy: record.redactedBy } : {}),
    pdu: record ? withRedactedBecause(data, record, event.pdu) : event.pdu,
  });

  const ctx: RoomContext = {
    identity: opts.identity,
    data,
    queue,
    keys: opts.keys,
    request,
    logger: opts.logger,
    now,
    randomId: opts.randomId ?? (() => randomBytes(12).toString('base64url')),
    roomLock: keyedLock(),
    hooks,
    limits: roomLimits(opts.limits),
    notify(event, status) {
      try {
        hooks.onEvent?.(event, status);
      } catch (e) {
        opts.logger.warn({ err: (e as Error).message }, 'onEvent hook threw');
      }
      if (status !== 'accepted' && status !== 'soft-failed') return;
      const entry = toTimeline(event, status, data.stored(event.eventId));
      for (const w of [...waiters]) w(entry);
    },
  };
  const inbound = createInbound(ctx);
  const transactions = createTransactions(ctx, inbound);
  const resident = createResident(ctx);
  const queries = createQueries(ctx);
  const joining = createJoining(ctx, inbound);

  function events(roomId: string, o: { all?: boolean } = {}): TimelineEvent[] {
    if (!data.room(roomId)) throw notFound(`Unknown room ${roomId}`);
    const out: TimelineEvent[] = [];
    // Negative positions hold backfilled history (backfill.ts), shown while the event is still that outlier.
    for (const { key, value: eventId } of store.timeline.range([roomId, -Number.MAX_SAFE_INTEGER], [roomId, Number.MAX_SAFE_INTEGER])) {
      const record = data.stored(eventId);
      if (!record || record.stream !== key[1]) continue;
      if (record.status !== 'accepted' && record.status !== 'outlier' && !(o.all && record.status === 'soft-failed')) continue;
      out.push(toTimeline(data.event(eventId)!, record.status, record));
    }
    return out;
  }

  return {
    identity: opts.identity,
    hooks,
    data,
    queue,
    transactions,
    resident,
    queries,
    joining,
    admission: createAdmission(ctx.limits),
    createRoom: (o) => createRoom(ctx, o),
    join: (userId, room, o) => joining.join(userId, room, o),
    leave: (userId, roomId) => joining.leave(userId, roomId),
    invite: (sender, roomId, userId) => joining.invite(sender, roomId, userId),
    async send(sender, roomId, content, type = 'm.room.message') {
      const c: JsonObject = typeof content === 'string' ? { msgtype: 'm.text', body: content } : content;
      const event = await sendLocalEvent(ctx, { roomId, sender, type, content: c });
      return { eventId: event.eventId };
    },
    async sendState(sender, roomId, type, stateKey, content) {
      const event = await sendLocalEvent(ctx, { roomId, sender, type, stateKey, content });
      return { eventId: event.eventId };
    },
    async redact(sender, roomId, eventId, reason) {
      const event = await redactAsLocalUser(ctx, sender, roomId, eventId, reason);
      return { eventId: event.eventId };
    },
    events,
    state(roomId) {
      if (!data.room(roomId)) throw notFound(`Unknown room ${roomId}`);
      return [...data.currentState(roomId)].map(([slot, eventId]) => {
        const [type, stateKey] = splitStateSlot(slot);
        const event = data.event(eventId)!;
        return { type, stateKey, eventId, sender: event.sender, content: event.content };
      });
    },
    waitForEvent(roomId, predicate, o = {}) {
      const timeout = o.timeout ?? 10_000;
      return new Promise((resolve, reject) => {
        const stop = () => {
          waiters.delete(check);
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
        };
        const check = (e: TimelineEvent) => {
          if (e.roomId !== roomId || !predicate(e)) return;
          stop();
          resolve(e);
        };
        const timer = setTimeout(() => {
          stop();
          reject(new MatrixError(408, 'M_UNKNOWN', `No matching event in ${roomId} within ${timeout} ms`));
        }, timeout);
        const onAbort = () => {
          stop();
          reject(o.signal!.reason);
        };
        if (o.signal?.aborted) return onAbort();
        o.signal?.addEventListener('abort', onAbort, { once: true });
        waiters.add(check);
        if (data.room(roomId)) for (const e of events(roomId, { all: true })) check(e);
      });
    },
    buildEvent: (o) => buildEvent(ctx, o),
    invites(userId) {
      return store.invites
        .range('', '\u{10FFFF}')
        .map((e) => e.value)
        .filter((i) => userId === undefined || i.event.state_key === userId);
    },
    rooms: () => store.rooms.range('', '\u{10FFFF}').map((e) => e.key),
    originSeen(origin) {
      if (queue.status(origin).failures === 0) return;
      opts.resetBackoff?.(origin);
      queue.retryNow(origin);
    },
    async close() {
      await queue.close();
      await store.close();
    },
  };
}

/** The room store's directory under data_dir. */
export function roomStoreDir(dataDir: string): string {
  return join(dataDir, 'rooms');
}
