// Events other servers send: the PDUs of a /send transaction (and the events
// fetched to fill their gaps) go through the spec's checks on receipt of a
// PDU. Missing auth events come from the sender's /event_auth, missing prev
// events from its /get_missing_events, the state across a longer gap from
// its /state_ids and /event.
//
// Two phases, so no room is held while another server answers: first every
// fetch a PDU needs (no lock: fetched events are stored as outliers, which
// touches nothing of a room's DAG), then, under the room's lock and without
// network I/O, the placements, each re-checking the room as it is by then.
// The fetches of one transaction share one budget (time, requests, events:
// limits.ts) and stop when the sender goes away; an event whose gaps could
// not be filled is placed on the prev events that are known, or refused
// (not stored) when none is.
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
const GAP_FETCH_CONCURRENCY = 10;
/** Our forward extremities named as `earliest_events` (the most recent ones). */
const MAX_EARLIEST = 20;
/** Answer sizes accepted per endpoint: what the counts above need, with room to spare. */
const MAX_BYTES = { eventAuth: 4 << 20, missingEvents: 2 << 20, stateIds: 2 << 20, event: 128 << 10 } as const;

export type PduResult = Record<string, never> | { error: string };

/** The sender went away: nothing of its transaction is placed or answered (it retries). */
export class AbandonedTransactionError extends Error {
  constructor() {
    super('the sender went away before its transaction was processed');
    this.name = 'AbandonedTransactionError';
  }
}

/** What the fetches of one received transaction may still spend. */
export interface FetchBudget {
  readonly deadline: number;
  requests: number;
  events: number;
  readonly signal: AbortSignal | undefined;
}

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

type CheckedEvent = Extract<Checked, { ok: true }>;

/** One event ready to be placed, with what its fetches found. */
interface Prepared {
  event: RoomEvent;
  redacted: string | undefined;
  /** The state after prev events outside our DAG, as the sender told it. */
  gapStates: Map<string, StateMap> | undefined;
}

export interface Inbound {
  /** The PDUs of a transaction from `origin`: results by event ID. */
  receivePdus(origin: string, pdus: readonly unknown[], signal?: AbortSignal): Promise<Record<string, PduResult>>;
  /** Stores checked events (checkEvents) as outliers, auth events first: no I/O but yields, so it may run in a room's lock. */
  placeOutliers(roomId: string, checked: readonly Checked[]): Promise<Map<string, { event: RoomEvent; placement: Placement }>>;
}

export function createInbound(ctx: RoomContext): Inbound {
  const { data, logger, limits } = ctx;

  function budgetFor(signal: AbortSignal | undefined): FetchBudget {
    return { deadline: ctx.now() + limits.fetchTimeMs, requests: limits.fetchRequests, events: limits.fetchEvents, signal };
  }

  /** One request of a transaction's fetches, within its budget. */
  async function fetchJson(budget: FetchBudget, destination: string, method: string, path: string, maxBytes: number, body?: unknown): Promise<unknown> {
    if (budget.signal?.aborted) throw new AbandonedTransactionError();
    const left = budget.deadline - ctx.now();
    if (left <= 0) throw new Error(`the transaction's ${limits.fetchTimeMs} ms for fetches are spent`);
    if (budget.requests <= 0) throw new Error(`the transaction's ${limits.fetchRequests} fetch requests are spent`);
    budget.requests--;
    const r = await ctx.request(destination, method, path, { ...(body !== undefined ? { body } : {}), timeoutMs: Math.min(FETCH_TIMEOUT_MS, left), maxBytes, ...(budget.signal ? { signal: budget.signal } : {}) });
    return r.body;
  }

  /** Takes at most what the budget's event count allows from an answer's list. */
  function take(budget: FetchBudget, list: unknown, max: number): unknown[] {
    if (!Array.isArray(list)) return [];
    const taken = list.slice(0, Math.max(0, Math.min(max, budget.events)));
    budget.events -= taken.length;
    return taken;
  }

  const holds = (eventId: string) => data.stored(eventId) !== undefined;

  async function placeOutliers(roomId: string, checked: readonly Checked[]) {
    const out = new Map<string, { event: RoomEvent; placement: Placement }>();
    const good = checked.filter((c): c is CheckedEvent => c.ok && c.event.roomId === roomId);
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

  /** Checks (format, signatures, hashes) and stores fetched events as outliers. */
  async function storeOutliers(roomId: string, pdus: readonly unknown[], version: RoomVersion) {
    return placeOutliers(roomId, await checkEvents(ctx.identity, ctx.keys, pdus, version, holds));
  }

  /** Fills the auth events an event names but we lack, from the origin's /event_auth. */
  async function fetchAuthEvents(budget: FetchBudget, origin: string, event: RoomEvent): Promise<void> {
    if (missingAuthEvents(data, event).length === 0) return;
    try {
      const body = (await fetchJson(budget, origin, 'GET', `/_matrix/federation/v1/event_auth/${encodeURIComponent(event.roomId)}/${encodeURIComponent(event.eventId)}`, MAX_BYTES.eventAuth)) as { auth_chain?: unknown };
      await storeOutliers(event.roomId, take(budget, body?.auth_chain, MAX_FETCHED_AUTH_EVENTS), event.roomVersion);
    } catch (e) {
      if (e instanceof AbandonedTransactionError) throw e;
      logger.info({ origin, eventId: event.eventId, err: (e as Error).message }, 'cannot fetch missing auth events');
    }
  }

  /** One /get_missing_events round for the prev events of `event` we lack: the checked events, oldest first. */
  async function fetchMissingPrevs(budget: FetchBudget, origin: string, event: RoomEvent): Promise<CheckedEvent[]> {
    const room = data.room(event.roomId)!;
    let events: unknown[];
    try {
      const body = (await fetchJson(budget, origin, 'POST', `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(event.roomId)}`, MAX_BYTES.missingEvents, {
        earliest_events: room.extremities.slice(-MAX_EARLIEST),
        latest_events: [event.eventId],
        limit: MISSING_EVENTS_LIMIT,
        min_depth: 0,
      })) as { events?: unknown };
      events = take(budget, body?.events, MISSING_EVENTS_LIMIT);
    } catch (e) {
      if (e instanceof AbandonedTransactionError) throw e;
      logger.info({ origin, eventId: event.eventId, err: (e as Error).message }, 'cannot fetch missing prev events');
      return [];
    }
    const checked = await checkEvents(ctx.identity, ctx.keys, events, event.roomVersion);
    const good = checked.filter((c): c is CheckedEvent => c.ok && c.event.roomId === event.roomId);
    const order = new Map(byDepth(good.map((c) => c.event)).map((e, i) => [e.eventId, i]));
    return good.sort((a, b) => order.get(a.event.eventId)! - order.get(b.event.eventId)!);
  }

  /**
   * The state after each of `prevIds` (prev events of `event` outside our
   * DAG): /state_ids at it from the sender, the events we lack fetched from
   * /event (checked and stored as outliers), the prev event added when it is
   * a state event — as Synapse does across a gap. At most MAX_GAP_PREVS prev
   * events; the events fetched count against the transaction's budget.
   */
  async function fetchGapStates(budget: FetchBudget, origin: string, event: RoomEvent, prevIds: readonly string[]): Promise<Map<string, StateMap>> {
    const out = new Map<string, StateMap>();
    for (const prevId of prevIds.slice(0, MAX_GAP_PREVS)) {
      try {
        const ids = (await fetchJson(budget, origin, 'GET', `/_matrix/federation/v1/state_ids/${encodeURIComponent(event.roomId)}?event_id=${encodeURIComponent(prevId)}`, MAX_BYTES.stateIds)) as { pdu_ids?: unknown; auth_chain_ids?: unknown };
        const stateIds = Array.isArray(ids?.pdu_ids) ? ids.pdu_ids.filter((x): x is string => typeof x === 'string') : [];
        const chainIds = Array.isArray(ids?.auth_chain_ids) ? ids.auth_chain_ids.filter((x): x is string => typeof x === 'string') : [];
        const wanted = [...new Set([prevId, ...chainIds, ...stateIds])].filter((id) => !holds(id));
        if (wanted.length > budget.events) throw new Error(`the state at ${prevId} needs ${wanted.length} events, more than the ${budget.events} the transaction may still fetch`);
        budget.events -= wanted.length;
        const pdus: unknown[] = [];
        for (let i = 0; i < wanted.length; i += GAP_FETCH_CONCURRENCY) {
          const batch = await Promise.all(
            wanted.slice(i, i + GAP_FETCH_CONCURRENCY).map((id) =>
              fetchJson(budget, origin, 'GET', `/_matrix/federation/v1/event/${encodeURIComponent(id)}`, MAX_BYTES.event).then(
                (b) => (Array.isArray((b as { pdus?: unknown })?.pdus) ? (b as { pdus: unknown[] }).pdus[0] : undefined),
                (e: unknown) => {
                  if (e instanceof AbandonedTransactionError) throw e;
                  return undefined;
                },
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
        if (e instanceof AbandonedTransactionError) throw e;
        logger.info({ origin, eventId: event.eventId, prevId, err: (e as Error).message }, 'cannot fetch the state at a missing prev event');
      }
    }
    return out;
  }

  /**
   * Everything a received event needs fetched before it can be placed, in
   * placement order: the events between it and our DAG (one
   * /get_missing_events round; those do not ask again, so a server answering
   * with ever older unknown events gets one round), then the event. `planned`
   * holds events of the transaction already prepared, which count as placed.
   */
  async function prepare(budget: FetchBudget, origin: string, c: CheckedEvent, planned: Set<string>): Promise<Prepared[]> {
    const inDag = (id: string) => planned.has(id) || data.stored(id)?.stateBefore !== undefined;
    const out: Prepared[] = [];
    await fetchAuthEvents(budget, origin, c.event);
    if (c.event.prevEvents.some((id) => !inDag(id))) {
      for (const f of await fetchMissingPrevs(budget, origin, c.event)) {
        if (inDag(f.event.eventId)) continue;
        await fetchAuthEvents(budget, origin, f.event);
        const gaps = f.event.prevEvents.filter((id) => !inDag(id));
        out.push({ event: f.event, redacted: f.redacted, gapStates: gaps.length > 0 ? await fetchGapStates(budget, origin, f.event, gaps) : undefined });
        planned.add(f.event.eventId);
      }
    }
    // Prev events still missing: the state after each, as the sender tells it, stands in for them.
    const gaps = c.event.prevEvents.filter((id) => !inDag(id));
    out.push({ event: c.event, redacted: c.redacted, gapStates: gaps.length > 0 ? await fetchGapStates(budget, origin, c.event, gaps) : undefined });
    planned.add(c.event.eventId);
    return out;
  }

  /** Places one prepared event in the room as it is now (run in the room's lock; no I/O). */
  function place(p: Prepared): Placement {
    const { event } = p;
    const existing = data.stored(event.eventId);
    if (existing && existing.status !== 'outlier') return { status: existing.status, ...(existing.reason ? { reason: existing.reason } : {}) };
    const missing = missingAuthEvents(data, event);
    if (missing.length > 0) {
      const reason = `auth events not found: ${missing.join(', ')}`;
      data.putEvent({ eventId: event.eventId, roomId: event.roomId, pdu: event.pdu, status: 'rejected', reason, receivedTs: ctx.now() }, event);
      return { status: 'rejected', reason };
    }
    const usableGaps = p.gapStates && p.gapStates.size > 0 ? p.gapStates : undefined;
    if (event.prevEvents.length > 0 && missingPrevEvents(data, event).length === event.prevEvents.length && !usableGaps) {
      // No prev event in our DAG and no state for them: we cannot say what the state before it was.
      return { status: 'rejected', reason: `none of its prev events is known: ${event.prevEvents.join(', ')}` };
    }
    return placeEvent(data, event, { receivedTs: ctx.now(), ...(p.redacted ? { redacted: p.redacted } : {}), ...(usableGaps ? { gapStates: usableGaps } : {}) });
  }

  function logPlacement(event: RoomEvent, placement: Placement): void {
    if (placement.status === 'rejected') logger.info({ roomId: event.roomId, eventId: event.eventId, rule: placement.rule, reason: placement.reason }, 'rejected an event');
    else if (placement.status === 'soft-failed') logger.info({ roomId: event.roomId, eventId: event.eventId, rule: placement.rule, reason: placement.reason }, 'soft-failed an event');
  }

  async function receivePdus(origin: string, pdus: readonly unknown[], signal?: AbortSignal): Promise<Record<string, PduResult>> {
    const results: Record<string, PduResult> = {};
    const budget = budgetFor(signal);
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
      // Phase 1, no lock: what each PDU lacks, fetched.
      const planned = new Set<string>();
      const plans: Array<{ eventId: string; steps: Prepared[] }> = [];
      for (const c of checked) {
        if (!c.ok) {
          logger.info({ origin, roomId, eventId: c.eventId, reason: c.error }, 'dropped a PDU');
          if (c.eventId !== undefined) results[c.eventId] = { error: c.error };
          continue;
        }
        if (c.event.roomId !== roomId) continue;
        const existing = data.stored(c.event.eventId);
        const steps = existing && existing.status !== 'outlier' ? [{ event: c.event, redacted: c.redacted, gapStates: undefined }] : await prepare(budget, origin, c, planned);
        plans.push({ eventId: c.event.eventId, steps });
      }
      if (signal?.aborted) throw new AbandonedTransactionError();
      // Phase 2, in the room's lock: placements only.
      await ctx.roomLock.run(roomId, async () => {
        const placed: Array<[RoomEvent, Placement]> = [];
        for (const plan of plans) {
          let last: Placement | undefined;
          for (const step of plan.steps) {
            const before = data.stored(step.event.eventId)?.status;
            last = place(step);
            const after = data.stored(step.event.eventId)?.status;
            // Observers hear of events stored by this placement, once.
            if ((before === undefined || before === 'outlier') && after !== undefined && after !== 'outlier') {
              logPlacement(step.event, last);
              placed.push([step.event, last]);
            }
          }
          results[plan.eventId] = describePlacement(last!);
          await yieldToEventLoop();
        }
        await data.store.commit();
        for (const [event, placement] of placed) ctx.notify(event, placement.status);
      });
    }
    return results;
  }

  return { receivePdus, placeOutliers };
}

/** 400 for a transaction over the spec's limits. */
export function transactionLimitError(pdus: number, edus: number): MatrixError | undefined {
  if (pdus > 50) return new MatrixError(400, 'M_BAD_JSON', `A transaction holds at most 50 PDUs, this one ${pdus}`);
  if (edus > 100) return new MatrixError(400, 'M_BAD_JSON', `A transaction holds at most 100 EDUs, this one ${edus}`);
  return undefined;
}
