// Putting an event whose format, signatures and hashes were checked into its
// room: the spec's checks 4 to 6 on receipt of a PDU (auth against its auth
// events, against the state before it, against the current state), then the
// state before it, the forward extremities, the current state and the
// timeline. Synchronous: every event it needs is in the store (the caller
// fetched what was missing), so a room changes in one step.
import { authEventSlots, authStateOf, checkAuthEventsList, checkEventAuth, resolveState, type AuthResult } from '../matrix/auth/index.js';
import { stateSlot, type RoomEvent, type StateMap } from '../matrix/events/types.js';
import { applyEarlierRedactions, applyRedaction } from './redactions.js';
import type { RoomData } from './room-data.js';
import type { EventStatus } from './store.js';

export interface Placement {
  status: EventStatus;
  /** Why it was rejected or soft-failed. */
  reason?: string;
  /** The auth rule that refused it. */
  rule?: string;
}

/** Auth events an event names that the store does not hold. */
export function missingAuthEvents(data: RoomData, event: RoomEvent): string[] {
  return event.authEvents.filter((id) => data.stored(id) === undefined);
}

/** Prev events an event names that the store does not hold in the room's DAG (outliers count as missing). */
export function missingPrevEvents(data: RoomData, event: RoomEvent): string[] {
  return event.prevEvents.filter((id) => data.stored(id)?.stateBefore === undefined);
}

/** The auth rules for an event against a state (the slots the selection algorithm picks from it). */
export function authAgainst(data: RoomData, event: RoomEvent, state: StateMap): AuthResult {
  return checkEventAuth(event, data.stateEvents(state, authEventSlots(event, event.roomVersion)));
}

/** Check 4: the event against the auth events it names (all of which must be in the store). */
export function checkOwnAuthEvents(data: RoomData, event: RoomEvent): AuthResult {
  const authEvents: RoomEvent[] = [];
  for (const id of event.authEvents) {
    const e = data.event(id);
    if (!e) return { ok: false, rule: 'auth_events.missing', reason: `auth event ${id} is not known` };
    authEvents.push(e);
  }
  const list = checkAuthEventsList(event, authEvents, { isRejected: (id) => data.isRejected(id) });
  if (!list.ok) return list;
  return checkEventAuth(event, authStateOf(authEvents));
}

/**
 * The state before an event from the states after its prev events (resolved
 * when there are several). `gapStates` gives the state after prev events
 * outside our DAG, as another server told it (/state_ids).
 */
export function stateBeforeEvent(data: RoomData, event: RoomEvent, gapStates?: ReadonlyMap<string, StateMap>): StateMap {
  const states: StateMap[] = [];
  for (const id of event.prevEvents) {
    const after = data.stateAfter(id) ?? gapStates?.get(id);
    if (after) states.push(after);
  }
  if (states.length === 1) return states[0]!;
  return resolveState(event.roomVersion, states, (id) => data.event(id), { isRejected: (id) => data.isRejected(id) });
}

/**
 * Stores an event known to be an outlier (part of a join's state or auth
 * chain, or a fetched auth event): checked against its own auth events only.
 */
export function placeOutlier(data: RoomData, event: RoomEvent, receivedTs: number, redacted?: string): Placement {
  const existing = data.stored(event.eventId);
  if (existing) return { status: existing.status, ...(existing.reason ? { reason: existing.reason } : {}) };
  const auth = checkOwnAuthEvents(data, event);
  const status: EventStatus = auth.ok ? 'outlier' : 'rejected';
  const reason = auth.ok ? redacted : auth.reason;
  data.putEvent({ eventId: event.eventId, roomId: event.roomId, pdu: event.pdu, status, ...(reason ? { reason } : {}), receivedTs }, event);
  applyEarlierRedactions(data, event.eventId);
  return { status, ...(reason ? { reason } : {}), ...(!auth.ok ? { rule: auth.rule } : {}) };
}

/**
 * Places an event in its room's DAG. Its prev events should be in the DAG;
 * those that are not are treated as unknown (the state before it comes from
 * the ones that are). `stateBefore` overrides that computation (the first
 * event of a joined room, whose prev events we never see).
 */
export function placeEvent(
  data: RoomData,
  event: RoomEvent,
  opts: { receivedTs: number; stateBefore?: StateMap; gapStates?: ReadonlyMap<string, StateMap>; redacted?: string; skipSoftFail?: boolean },
): Placement {
  const existing = data.stored(event.eventId);
  if (existing && existing.status !== 'outlier') return { status: existing.status, ...(existing.reason ? { reason: existing.reason } : {}) };
  const room = data.room(event.roomId)!;
  const record = (status: EventStatus, reason: string | undefined, extra: { stateBefore?: number; stream?: number } = {}) => {
    // An outlier becoming part of the DAG keeps the redaction already applied to it.
    const redacted = existing?.redactedBy !== undefined ? { pdu: existing.pdu, redactedBy: existing.redactedBy } : { pdu: event.pdu };
    data.putEvent({ eventId: event.eventId, roomId: event.roomId, ...redacted, status, ...(reason ? { reason } : {}), ...extra, receivedTs: opts.receivedTs }, existing?.redactedBy !== undefined ? undefined : event);
    applyEarlierRedactions(data, event.eventId);
  };

  const before = opts.stateBefore ?? stateBeforeEvent(data, event, opts.gapStates);
  const firstPrev = event.prevEvents.map((id) => data.stored(id)?.stateBefore).find((g) => g !== undefined);
  const stateBefore = data.groups.create(before, firstPrev ?? room.stateGroup);
  // A rejected event keeps its place in the DAG (spec, "Rejection"): later
  // events from other servers may name it as a prev event and must still be
  // accepted when they pass the auth rules; the state after it is the state
  // before it (RoomData.stateAfter leaves a rejected event out).
  const own = checkOwnAuthEvents(data, event);
  const auth = own.ok ? authAgainst(data, event, before) : own;
  if (!auth.ok) {
    record('rejected', auth.reason, { stateBefore });
    return { status: 'rejected', reason: auth.reason, rule: auth.rule };
  }

  // Against the current state too, unless that is the state before it (the usual case: no fork), already checked.
  const softFail = opts.skipSoftFail || opts.stateBefore || stateBefore === room.stateGroup ? { ok: true as const } : authAgainst(data, event, data.currentState(event.roomId));
  const stream = data.nextStream(event.roomId);
  data.store.timeline.put([event.roomId, stream], event.eventId);
  if (!softFail.ok) {
    record('soft-failed', softFail.reason, { stateBefore, stream });
    return { status: 'soft-failed', reason: softFail.reason, rule: softFail.rule };
  }
  record('accepted', opts.redacted, { stateBefore, stream });

  // Forward extremities: this event replaces the prev events it names.
  const latest = data.room(event.roomId)!;
  const prevs = new Set(event.prevEvents);
  const extremities = [...latest.extremities.filter((id) => !prevs.has(id) && id !== event.eventId), event.eventId];
  const coversAll = latest.extremities.every((id) => prevs.has(id));
  let stateGroup: number;
  if (opts.stateBefore || coversAll) {
    stateGroup = event.stateKey === undefined ? stateBefore : data.groups.extend(stateBefore, [[stateSlot(event.type, event.stateKey), event.eventId]]);
  } else {
    // A fork: the current state is the extremities' states resolved.
    const states = extremities.map((id) => data.stateAfter(id)).filter((s): s is StateMap => s !== undefined);
    const resolved = resolveState(event.roomVersion, states, (id) => data.event(id), { isRejected: (id) => data.isRejected(id) });
    stateGroup = data.groups.create(resolved, latest.stateGroup);
  }
  data.putRoom({ ...latest, extremities, stateGroup, depth: Math.max(latest.depth, event.depth) });
  applyRedaction(data, event);
  return { status: 'accepted', ...(opts.redacted ? { reason: opts.redacted } : {}) };
}
