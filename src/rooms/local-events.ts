// Events of local users: built on the room's forward extremities with the
// auth events the selection algorithm picks from the current state, signed,
// checked against the current state like any other event, stored, and queued
// for every other server in the room.
import { buildPdu, parsePdu, signPdu, type EventFields } from '../matrix/events/index.js';
import { authEventSlots } from '../matrix/auth/index.js';
import type { JsonObject } from '../matrix/canonical-json.js';
import { MatrixError, forbidden, notFound } from '../matrix/errors.js';
import type { RoomVersion } from '../matrix/events/room-versions.js';
import type { Pdu, RoomEvent, StateMap } from '../matrix/events/types.js';
import type { RoomContext } from './context.js';
import { authAgainst, checkOwnAuthEvents, placeEvent } from './place-event.js';
import type { RoomData } from './room-data.js';

/** At most this many prev_events on a local event (the spec allows 20). */
const MAX_PREV = 10;

export interface NewEvent {
  roomId: string;
  sender: string;
  type: string;
  stateKey?: string;
  content: JsonObject;
  redacts?: string;
}

/** Fields of a new event on top of the room as it is now: prev events, auth events and depth chosen. */
export function eventFields(data: RoomData, e: NewEvent, now: number, state?: StateMap): EventFields {
  const room = data.room(e.roomId);
  if (!room) throw notFound(`Unknown room ${e.roomId}`);
  const version = data.version(e.roomId);
  const current = state ?? data.currentState(e.roomId);
  const prev = room.extremities.slice(-MAX_PREV).map((id) => data.event(id)!);
  const auth = authEventSlots({ type: e.type, stateKey: e.stateKey, sender: e.sender, content: e.content }, version)
    .map((slot) => current.get(slot))
    .filter((id): id is string => id !== undefined)
    .map((id) => data.event(id)!);
  return {
    roomId: e.roomId,
    sender: e.sender,
    type: e.type,
    ...(e.stateKey !== undefined ? { stateKey: e.stateKey } : {}),
    content: e.content,
    prevEvents: prev,
    authEvents: auth,
    depth: Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, ...prev.map((p) => p.depth)) + 1),
    originServerTs: now,
    ...(e.redacts !== undefined ? { redacts: e.redacts } : {}),
  };
}

/** Builds and signs an event with our key. */
export function signedEvent(ctx: RoomContext, fields: EventFields, version: RoomVersion): RoomEvent {
  const pdu: Pdu = buildPdu(fields, version, { randomId: ctx.randomId });
  return parsePdu(signPdu(pdu, version, ctx.identity.serverName, ctx.identity.signingKey), version);
}

/** Servers an event in this room goes to: every server with a joined member before or after it, but us. */
export function destinationsOf(ctx: RoomContext, roomId: string, before: StateMap): string[] {
  const servers = new Set([...ctx.data.joinedServers(before), ...ctx.data.joinedServers(ctx.data.currentState(roomId))]);
  servers.delete(ctx.identity.serverName);
  return [...servers];
}

/**
 * Stores a local event that must pass the auth rules against the current
 * state (403 M_FORBIDDEN otherwise, nothing stored), queues it for the other
 * servers, commits and wakes the queue. Run inside the room's lock.
 */
export async function commitLocalEvent(ctx: RoomContext, event: RoomEvent, extraDestinations: readonly string[] = []): Promise<RoomEvent> {
  const before = ctx.data.currentState(event.roomId);
  // Checked before anything is written, so a refused event leaves no trace.
  const own = checkOwnAuthEvents(ctx.data, event);
  const auth = own.ok ? authAgainst(ctx.data, event, before) : own;
  if (!auth.ok) throw forbidden(`${event.type} refused by the room's auth rules: ${auth.reason}`);
  placeEvent(ctx.data, event, { receivedTs: ctx.now() });
  const destinations = [...new Set([...destinationsOf(ctx, event.roomId, before), ...extraDestinations])].filter((d) => d !== ctx.identity.serverName);
  ctx.queue.queuePdu(destinations, event.eventId);
  await ctx.data.store.commit();
  ctx.queue.wake(destinations);
  ctx.notify(event, 'accepted');
  return event;
}

/** Builds, signs and commits one local event in the room's lock. */
export function sendLocalEvent(ctx: RoomContext, e: NewEvent): Promise<RoomEvent> {
  if (!ctx.identity.users.has(e.sender)) return Promise.reject(new MatrixError(400, 'M_UNKNOWN', `${e.sender} is not a local user of ${ctx.identity.serverName}`));
  return ctx.roomLock.run(e.roomId, async () => {
    if (!ctx.data.room(e.roomId)) throw notFound(`Unknown room ${e.roomId}`);
    const version = ctx.data.version(e.roomId);
    return commitLocalEvent(ctx, signedEvent(ctx, eventFields(ctx.data, e, ctx.now()), version));
  });
}
