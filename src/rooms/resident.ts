// The resident server's side of membership: make_join / send_join,
// make_leave / send_leave for servers joining or leaving rooms we are in,
// and the invites other servers ask us to co-sign for our users.
import { buildPdu, EventFormatError, parsePdu, signPdu, verifyEventSignatures, checkContentHash } from '../matrix/events/index.js';
import { roomVersion, supportedRoomVersions } from '../matrix/events/room-versions.js';
import type { Pdu, RoomEvent } from '../matrix/events/types.js';
import { MatrixError, badJson, forbidden, notFound } from '../matrix/errors.js';
import { boundedLog } from './bounded-log.js';
import type { RoomContext } from './context.js';
import { fetchEventKeys } from './event-keys.js';
import { domainOf } from './identity.js';
import { destinationsOf, eventFields } from './local-events.js';
import { authAgainst, checkOwnAuthEvents, placeEvent } from './place-event.js';

export type Membership = 'join' | 'leave';

export interface MakeMembershipAnswer {
  event: Pdu;
  room_version: string;
}

export interface SendJoinAnswer {
  origin: string;
  auth_chain: Pdu[];
  state: Pdu[];
  event: Pdu;
  members_omitted: boolean;
  servers_in_room: string[];
}

export interface InviteAnswer {
  event: Pdu;
}

export interface Resident {
  makeMembership(membership: Membership, origin: string, roomId: string, userId: string, versions: readonly string[]): MakeMembershipAnswer;
  sendJoin(origin: string, roomId: string, eventId: string, pdu: unknown): Promise<SendJoinAnswer>;
  sendLeave(origin: string, roomId: string, eventId: string, pdu: unknown): Promise<Record<string, never>>;
  invite(origin: string, roomId: string, eventId: string, body: unknown, apiVersion: 1 | 2): Promise<InviteAnswer>;
}

/** Stripped state kept with an invite: at most 50 events and 64 KiB of JSON (what a room's name, topic, avatar and the like need). */
const MAX_INVITE_STATE = 50;
const MAX_INVITE_STATE_BYTES = 65_536;

function strippedState(given: unknown): unknown[] {
  if (!Array.isArray(given)) return [];
  const kept: unknown[] = [];
  let bytes = 0;
  for (const entry of given.slice(0, MAX_INVITE_STATE)) {
    bytes += Buffer.byteLength(JSON.stringify(entry) ?? '');
    if (bytes > MAX_INVITE_STATE_BYTES) break;
    kept.push(entry);
  }
  return kept;
}

function knownRoom(ctx: RoomContext, roomId: string) {
  const room = ctx.data.room(roomId);
  if (!room) throw notFound(`Unknown room ${roomId}`);
  return room;
}

export function createResident(ctx: RoomContext): Resident {
  const { data, identity } = ctx;
  // Invites other servers make us hold: bounded per inviting server and over all (an invite used or replaced is no longer evicted).
  const heldInvites = boundedLog(data.store, 'invites', {
    perGroup: ctx.limits.invitesPerOrigin,
    total: ctx.limits.invitesKept,
    drop: (_origin, key, seq) => {
      if (data.store.invites.get(key)?.seq === seq) data.store.invites.remove(key);
    },
  });

  function makeMembership(membership: Membership, origin: string, roomId: string, userId: string, versions: readonly string[]): MakeMembershipAnswer {
    knownRoom(ctx, roomId);
    const version = data.version(roomId);
    if (domainOf(userId) !== origin) throw forbidden(`${userId} does not belong to ${origin}`);
    if (membership === 'join' && !versions.includes(version.id)) {
      throw new MatrixError(400, 'M_INCOMPATIBLE_ROOM_VERSION', `Your homeserver does not support the features required to join this room (room version ${version.id})`, { room_version: version.id });
    }
    const state = data.currentState(roomId);
    if (!data.joinedServers(state).has(identity.serverName)) throw forbidden(`${identity.serverName} is no longer in room ${roomId}`);
    const fields = eventFields(data, { roomId, sender: userId, type: 'm.room.member', stateKey: userId, content: { membership } }, ctx.now(), state);
    const built = buildPdu({ ...fields, ...(version.eventFormat === 1 ? { eventId: `$template:${origin}` } : {}) }, version);
    // The template must pass the auth rules as it stands (an uninvited user of an
    // invite-only room, a banned one, a leave of a non-member are refused here).
    // Signed only so it parses; the joining server signs its own copy.
    const probe = parsePdu(signPdu(built, version, identity.serverName, identity.signingKey), version);
    const auth = authAgainst(data, probe, state);
    if (!auth.ok) throw forbidden(`${userId} cannot ${membership} ${roomId}: ${auth.reason}`);
    const { event_id: _id, ...template } = built;
    return { event: template, room_version: version.id };
  }

  /** Checks a signed membership event a joining or leaving server sends back, then places it in the room. */
  async function acceptMembership(membership: Membership, origin: string, roomId: string, eventId: string, pdu: unknown): Promise<RoomEvent> {
    knownRoom(ctx, roomId);
    const version = data.version(roomId);
    let event: RoomEvent;
    try {
      event = parsePdu(pdu, version);
    } catch (e) {
      if (e instanceof EventFormatError) throw badJson(`Invalid event: ${e.message}`);
      throw e;
    }
    if (event.eventId !== eventId) throw badJson(`The event's ID is ${event.eventId}, not ${eventId} as the path says`);
    if (event.roomId !== roomId) throw badJson(`The event is for room ${event.roomId}, not ${roomId}`);
    if (event.type !== 'm.room.member' || event.content.membership !== membership || event.stateKey !== event.sender) {
      throw badJson(`Expected an m.room.member event with membership ${membership} for its sender`);
    }
    if (domainOf(event.sender) !== origin) throw forbidden(`${event.sender} does not belong to ${origin}`);
    const keys = await fetchEventKeys(identity, ctx.keys, [event]);
    const sig = verifyEventSignatures(event, keys);
    if (!sig.ok) throw forbidden(`Signature check failed: ${sig.reason}`);
    if (!checkContentHash(event.pdu)) throw forbidden('Content hash check failed');
    return ctx.roomLock.run(roomId, async () => {
      const existing = data.stored(eventId);
      if (existing && existing.status === 'accepted') return event;
      const before = data.currentState(roomId);
      const own = checkOwnAuthEvents(data, event);
      const auth = own.ok ? authAgainst(data, event, before) : own;
      if (!auth.ok) throw forbidden(`The ${membership} is not allowed: ${auth.reason}`);
      const placed = placeEvent(data, event, { receivedTs: ctx.now() });
      if (placed.status !== 'accepted') throw forbidden(`The ${membership} is not allowed: ${placed.reason}`);
      // Every server in the room hears of it; the origin too, since it may have other members here (it drops a duplicate).
      const destinations = destinationsOf(ctx, roomId, before);
      ctx.queue.queuePdu(destinations, eventId);
      await data.store.commit();
      ctx.queue.wake(destinations);
      ctx.notify(event, 'accepted');
      return event;
    });
  }

  async function sendJoin(origin: string, roomId: string, eventId: string, pdu: unknown): Promise<SendJoinAnswer> {
    const event = await acceptMembership('join', origin, roomId, eventId, pdu);
    const before = data.stateBefore(event.eventId)!;
    return {
      origin: identity.serverName,
      auth_chain: data.pdus(data.authChainIds([event.eventId, ...before.values()])),
      state: data.pdus(before.values()),
      event: event.pdu,
      members_omitted: false,
      servers_in_room: [...data.joinedServers(data.currentState(roomId))],
    };
  }

  async function sendLeave(origin: string, roomId: string, eventId: string, pdu: unknown): Promise<Record<string, never>> {
    await acceptMembership('leave', origin, roomId, eventId, pdu);
    return {};
  }

  async function invite(origin: string, roomId: string, eventId: string, body: unknown, apiVersion: 1 | 2): Promise<InviteAnswer> {
    const b = (apiVersion === 2 ? body : { event: body, room_version: '1', invite_room_state: [] }) as { event?: unknown; room_version?: unknown; invite_room_state?: unknown };
    if (typeof b !== 'object' || b === null) throw badJson('Expected a JSON object');
    const versionId = typeof b.room_version === 'string' ? b.room_version : apiVersion === 1 ? '1' : undefined;
    if (versionId === undefined) throw badJson('room_version: missing');
    const version = roomVersion(versionId);
    if (!version || !supportedRoomVersions().includes(version.id)) {
      throw new MatrixError(400, 'M_UNSUPPORTED_ROOM_VERSION', `Room version ${JSON.stringify(versionId)} is not supported by ${identity.serverName}`, { room_version: versionId });
    }
    let event: RoomEvent;
    try {
      event = parsePdu(b.event, version);
    } catch (e) {
      if (e instanceof EventFormatError) throw badJson(`Invalid event: ${e.message}`);
      throw e;
    }
    if (event.eventId !== eventId || event.roomId !== roomId) throw badJson('The event does not match the room and event IDs of the path');
    if (event.type !== 'm.room.member' || event.content.membership !== 'invite' || event.stateKey === undefined) throw badJson('Expected an m.room.member invite');
    if (!identity.users.has(event.stateKey)) throw notFound(`${event.stateKey} is not a user of ${identity.serverName}`);
    if (domainOf(event.sender) !== origin) throw forbidden(`${event.sender} does not belong to ${origin}`);
    const keys = await fetchEventKeys(identity, ctx.keys, [event]);
    const sig = verifyEventSignatures(event, keys);
    if (!sig.ok) throw forbidden(`Signature check failed: ${sig.reason}`);
    const signed = signPdu(event.pdu, version, identity.serverName, identity.signingKey);
    const state = strippedState(b.invite_room_state);
    const key = `${roomId}\u0000${event.stateKey}`;
    const seq = heldInvites.add(origin, key, ctx.now());
    data.store.invites.put(key, { roomId, version: version.id, event: signed, inviteRoomState: state, receivedTs: ctx.now(), seq });
    await data.store.commit();
    ctx.notify(parsePdu(signed, version), 'outlier');
    return { event: signed };
  }

  return { makeMembership, sendJoin, sendLeave, invite };
}
