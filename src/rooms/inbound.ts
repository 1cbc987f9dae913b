// Events other servers send: the PDUs of a /send transaction (and the events
// fetched to fill their gaps) go through the spec's checks on receipt of a
// PDU. Missing auth events come from the sender's /event_auth, missing prev
// events from its /get_missing_events, each bounded in count and time; an
// event whose gaps cannot be filled is placed on the prev events that are
// known, or refused when none is.
import { MatrixError } from '../matrix/errors.js';
import { roomVersion, type RoomVersion } from '../matrix/events/room-versions.js';
import { stateSlot, type RoomEvent, type StateMap } from '../matrix/events/types.js';
import { checkEvents, yieldToEventLoop, type Checked } from './check-events.js';
import type { RoomContext } from './context.js';
import { missingAuthEvents, missingPrevEvents, placeEvent, placeOutlier, type Placement } from './place-event.js';

/** Events asked of /get_missing_events at once (Synapse asks 10). */
export const MISSING_EVENTS_LIMIT = 20;
/** Auth chain events accepted from one /event_auth answer. */
export const MAX_FETCHED_AUTH_EVENTS = 500;
const FETCH_TIMEOUT_MS = 15_000;
/** Missing prev events of one event whose state is fetched (/state_ids). */
export const MAX_GAP_PREVS = 5;
/** Events fetched (/event) to fill the states of one event's missing prev events. */
export const MAX_GAP_EVENTS = 1000;
const GAP_FETCH_CONCURRENCY = 10;

export type PduResult = Record<string, never> | { error: string };

function pduRoomId(pdu: unknown): string | undefined {
  const roomId = (pdu as { room_id?: unknown } | null)?.room_id;
  return typeof roomId === 'string' ? roomId : undefined;
}

function describePlacement(p: Placement): PduResult {
  return p.status === 'rejected' ? { error: `rejected: ${p.reason}` } : {};
}

/** Orders events so each comes after its auth and prev events that are in the list (depth, then ID). */
function byDepth(events: RoomEvent[]): RoomEvent[] {
  return [...events].sort((a, b) => a.depth - b.depth || (a.eventId < b.eventId ? -1 : 1));
}

export interface Inbound {
  /** The PDUs of a transaction from `origin`: results by event ID. */
  receivePdus(origin: string, pdus: readonly unknown[]): Promise<Record<string, PduResult>>;
  /** Checks (format, signatures, hashes) and stores events as outliers, auth events first; returns the checked events. */
  storeOutliers(roomId: string, pdus: readonly unknown[], version: RoomVersion): Promise<Map<string, { event: RoomEvent; placement: Placement }>>;
}

export function createInbound(ctx: RoomContext): Inbound {
  const { data, logger } = ctx;

  async function fetchJson(destination: string, method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await ctx.request(destination, method, path, { ...(body !== undefined ? { body } : {}), timeoutMs: FETCH_TIMEOUT_MS });
    return r.body;
  }

  async function storeOutliers(roomId: string, pdus: readonly unknown[], version: RoomVersion) {
    const checked = await checkEvents(ctx.identity, ctx.keys, pdus, version);
    const out = new Map<string, { event: RoomEvent; placement: Placement }>();
    const good = checked.filter((c): c is Extract<Checked, { ok: true }> => c.ok && c.event.roomId === roomId);
    for (const c of checked) if (!c.ok) logger.info({ roomId, eventId: c.eventId, reason: c.error }, 'dropped a fetched event');
    // Auth events before the events they authorise: repeat passes until no progress.
    let pending = byDepth(good.map((c) => c.event));
    const redacted = new Map(good.filter((c) => c.redacted).map((c) => [c.event.eventId, c.redacted!]));
    while (pending.length > 0) {
      const next: RoomEvent[] = [];
      for (const event of pending) {
        if (missingAuthEvents(data, event).length > 0 && pending.length > 1) {
          next.push(event);
          continue;
        }
        out.set(event.eventId, { event, placement: placeOutlier(data, event, ctx.now(), redacted.get(event.eventId)) });
      }
      if (next.length === pending.length) {
        for (const event of next) out.set(event.eventId, { event, placement: placeOutlier(data, event, ctx.now(), redacted.get(event.eventId)) });
        break;
      }
      pending = next;
      await yieldToEventLoop();
    }
    return out;
  }

  /** Fills the auth events an event names but we lack, from the origin's /event_auth. */
  async function fetchAuthEvents(origin: string, event: RoomEvent): Promise<void> {
    if (missingAuthEvents(data, event).length === 0) return;
    try {
      const body = (await fetchJson(origin, 'GET', `/_matrix/federation/v1/event_auth/${encodeURIComponent(event.roomId)}/${encodeURIComponent(event.eventId)}`)) as { auth_chain?: unknown };
      const chain = Array.isArray(body?.auth_chain) ? body.auth_chain.slice(0, MAX_FETCHED_AUTH_EVENTS) : [];
      await storeOutliers(event.roomId, chain, event.roomVersion);
    } catch (e) {
      logger.info({ origin, eventId: event.eventId, err: (e as Error).message }, 'cannot fetch missing auth events');
    }
  }

  /** One /get_missing_events round for the prev events of `event` we lack; the fetched events are placed oldest first. */
  async function fetchMissingPrevs(origin: string, event: RoomEvent, depth: number): Promise<void> {
    const room = data.room(event.roomId)!;
    let events: unknown[];
    try {
      const body = (await fetchJson(origin, 'POST', `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(event.roomId)}`, {
        earliest_events: room.extremities,
        latest_events: [event.eventId],
        limit: MISSING_EVENTS_LIMIT,
        min_depth: 0,
      })) as { events?: unknown };
      events = Array.isArray(body?.events) ? body.events.slice(0, MISSING_EVENTS_LIMIT) : [];
    } catch (e) {
      logger.info({ origin, eventId: event.eventId, err: (e as Error).message }, 'cannot fetch missing prev events');
      return;
    }
    const checked = await checkEvents(ctx.identity, ctx.keys, events, event.roomVersion);
    const fetched = byDepth(checked.filter((c): c is Extract<Checked, { ok: true }> => c.ok && c.event.roomId === event.roomId).map((c) => c.event));
    const redacted = new Map(checked.filter((c): c is Extract<Checked, { ok: true }> => c.ok && c.redacted !== undefined).map((c) => [c.event.eventId, c.redacted!]));
    for (const e of fetched) {
      if (data.stored(e.eventId)?.stateBefore !== undefined) continue;
      await placeReceived(origin, e, redacted.get(e.eventId), depth + 1);
    }
  }

  /**
   * For prev events of `event` that are not in our DAG (after /get_missing_events),
   * the state after each: /state_ids at it from the sender, the events we lack
   * fetched from /event (checked and stored as outliers), the prev event added
   * when it is a state event — as Synapse does across a gap. Bounded: at most
   * MAX_GAP_PREVS prev events and MAX_GAP_EVENTS fetched events per event.
   */
  async function fetchGapStates(origin: string, event: RoomEvent): Promise<Map<string, StateMap>> {
    const out = new Map<string, StateMap>();
    let budget = MAX_GAP_EVENTS;
    for (const prevId of missingPrevEvents(data, event).slice(0, MAX_GAP_PREVS)) {
      try {
        const ids = (await fetchJson(origin, 'GET', `/_matrix/federation/v1/state_ids/${encodeURIComponent(event.roomId)}?event_id=${encodeURIComponent(prevId)}`)) as { pdu_ids?: unknown; auth_chain_ids?: unknown };
        const stateIds = Array.isArray(ids?.pdu_ids) ? ids.pdu_ids.filter((x): x is string => typeof x === 'string') : [];
        const chainIds = Array.isArray(ids?.auth_chain_ids) ? ids.auth_chain_ids.filter((x): x is string => typeof x === 'string') : [];
        const wanted = [...new Set([prevId, ...chainIds, ...stateIds])].filter((id) => data.stored(id) === undefined);
        if (wanted.length > budget) throw new Error(`the state at ${prevId} needs ${wanted.length} events, more than ${budget} left to fetch`);
        budget -= wanted.length;
        const pdus: unknown[] = [];
        for (let i = 0; i < wanted.length; i += GAP_FETCH_CONCURRENCY) {
          const batch = await Promise.all(
            wanted.slice(i, i + GAP_FETCH_CONCURRENCY).map((id) =>
              fetchJson(origin, 'GET', `/_matrix/federation/v1/event/${encodeURIComponent(id)}`).then(
                (b) => (Array.isArray((b as { pdus?: unknown })?.pdus) ? (b as { pdus: unknown[] }).pdus[0] : undefined),
                () => undefined,
              ),
            ),
          );
          pdus.push(...batch.filter((p) => p !== undefined));
        }
        await storeOutliers(event.roomId, pdus, event.roomVersion);
        const state = new Map<string, string>();
        for (const id of stateIds) {
          const e = data.stored(id)?.status !== 'rejected' ? data.event(id) : undefined;
          if (e?.stateKey !== undefined) state.set(stateSlot(e.type, e.stateKey), id);
        }
        const prev = data.stored(prevId)?.status !== 'rejected' ? data.event(prevId) : undefined;
        if (!prev || !state.has(stateSlot('m.room.create', ''))) throw new Error(`no usable state at ${prevId}`);
        if (prev.stateKey !== undefined) state.set(stateSlot(prev.type, prev.stateKey), prevId);
        out.set(prevId, state);
      } catch (e) {
        logger.info({ origin, eventId: event.eventId, prevId, err: (e as Error).message }, 'cannot fetch the state at a missing prev event');
      }
    }
    return out;
  }

  /** Places one checked event, filling its gaps first (within the depth bound: fetched events do not fetch again). */
  async function placeReceived(origin: string, event: RoomEvent, redacted: string | undefined, depth = 0): Promise<Placement> {
    const existing = data.stored(event.eventId);
    if (existing && existing.status !== 'outlier') return { status: existing.status, ...(existing.reason ? { reason: existing.reason } : {}) };
    await fetchAuthEvents(origin, event);
    if (missingAuthEvents(data, event).length > 0) {
      const missing = missingAuthEvents(data, event);
      data.putEvent({ eventId: event.eventId, roomId: event.roomId, pdu: event.pdu, status: 'rejected', reason: `auth events not found: ${missing.join(', ')}`, receivedTs: ctx.now() }, event);
      return { status: 'rejected', reason: `auth events not found: ${missing.join(', ')}` };
    }
    if (depth === 0 && missingPrevEvents(data, event).length > 0) await fetchMissingPrevs(origin, event, depth);
    // Prev events still missing: the state after each, as the sender tells it, stands in for them.
    const gapStates = depth <= 1 && missingPrevEvents(data, event).length > 0 ? await fetchGapStates(origin, event) : undefined;
    if (event.prevEvents.length > 0 && missingPrevEvents(data, event).length === event.prevEvents.length && !gapStates?.size) {
      // No prev event in our DAG and no state for them: we cannot say what the state before it was.
      return { status: 'rejected', reason: `none of its prev events is known: ${event.prevEvents.join(', ')}` };
    }
    const placement = placeEvent(data, event, { receivedTs: ctx.now(), ...(redacted ? { redacted } : {}), ...(gapStates?.size ? { gapStates } : {}) });
    afterPlacement(event, placement);
    return placement;
  }

  function afterPlacement(event: RoomEvent, placement: Placement): void {
    if (placement.status === 'rejected') logger.info({ roomId: event.roomId, eventId: event.eventId, rule: placement.rule, reason: placement.reason }, 'rejected an event');
    else if (placement.status === 'soft-failed') logger.info({ roomId: event.roomId, eventId: event.eventId, rule: placement.rule, reason: placement.reason }, 'soft-failed an event');
    pendingNotifications.push([event, placement]);
  }
  let pendingNotifications: Array<[RoomEvent, Placement]> = [];

  async function receivePdus(origin: string, pdus: readonly unknown[]): Promise<Record<string, PduResult>> {
    const results: Record<string, PduResult> = {};
    // Grouped by room, in order; rooms we are not in are skipped (logged), as Synapse does.
    const byRoom = new Map<string, unknown[]>();
    for (const pdu of pdus) {
      const roomId = pduRoomId(pdu);
      const room = roomId === undefined ? undefined : data.room(roomId);
      if (!room || !roomVersion(room.version)) {
        logger.info({ origin, roomId }, 'ignored a PDU for a room this server is not in');
        const id = (pdu as { event_id?: unknown } | null)?.event_id;
        if (typeof id === 'string') results[id] = { error: `unknown room ${roomId ?? '(no room_id)'}` };
        continue;
      }
      byRoom.set(roomId!, [...(byRoom.get(roomId!) ?? []), pdu]);
    }
    for (const [roomId, list] of byRoom) {
      const version = data.version(roomId);
      const checked = await checkEvents(ctx.identity, ctx.keys, list, version);
      await ctx.roomLock.run(roomId, async () => {
        for (const c of checked) {
          if (!c.ok) {
            logger.info({ origin, roomId, eventId: c.eventId, reason: c.error }, 'dropped a PDU');
            if (c.eventId !== undefined) results[c.eventId] = { error: c.error };
            continue;
          }
          if (c.event.roomId !== roomId) continue;
          const placement = await placeReceived(origin, c.event, c.redacted);
          results[c.event.eventId] = describePlacement(placement);
          await yieldToEventLoop();
        }
        await data.store.commit();
        const done = pendingNotifications;
        pendingNotifications = [];
        for (const [event, placement] of done) ctx.notify(event, placement.status);
      });
    }
    return results;
  }

  return { receivePdus, storeOutliers };
}

/** 400 for a transaction over the spec's limits. */
export function transactionLimitError(pdus: number, edus: number): MatrixError | undefined {
  if (pdus > 50) return new MatrixError(400, 'M_BAD_JSON', `A transaction holds at most 50 PDUs, this one ${pdus}`);
  if (edus > 100) return new MatrixError(400, 'M_BAD_JSON', `A transaction holds at most 100 EDUs, this one ${edus}`);
  return undefined;
}
