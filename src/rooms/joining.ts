// A local user joining, leaving and inviting across servers: make_join +
// send_join (v2) with the returned state and auth chain checked before the
// room is accepted, leave (our own event when we are in the room, make_leave +
// send_leave to decline an invite otherwise), and the v2 invite a remote
// invitee's server co-signs.
import { parsePdu, redactPdu, signPdu, EventFormatError } from '../matrix/events/index.js';
import { roomVersion, supportedRoomVersions, type RoomVersion } from '../matrix/events/room-versions.js';
import { stateSlot, type Pdu, type RoomEvent } from '../matrix/events/types.js';
import { MatrixError, forbidden, notFound } from '../matrix/errors.js';
import { verifyJsonSignature } from '../matrix/signing.js';
import type { RoomContext } from './context.js';
import { domainOf } from './identity.js';
import { checkEvents } from './check-events.js';
import type { Inbound } from './inbound.js';
import { commitLocalEvent, eventFields, sendLocalEvent, signedEvent } from './local-events.js';
import { authAgainst, placeEvent } from './place-event.js';
import { backfillOnJoin } from './backfill.js';

const JOIN_TIMEOUT_MS = 60_000;
/** State events of the room an invitee's server is shown (the spec's stripped state). */
const INVITE_STATE_TYPES = ['m.room.create', 'm.room.join_rules', 'm.room.name', 'm.room.canonical_alias', 'm.room.avatar', 'm.room.encryption', 'm.room.topic'];

export interface Joining {
  /** Resolves an alias (`#name:server`) to a room ID and servers that know it. */
  resolveAlias(alias: string): Promise<{ roomId: string; servers: string[] }>;
  join(userId: string, roomIdOrAlias: string, opts?: { via?: readonly string[] }): Promise<{ roomId: string; eventId: string }>;
  leave(userId: string, roomId: string): Promise<{ eventId: string }>;
  invite(sender: string, roomId: string, userId: string): Promise<{ eventId: string }>;
}

function localUser(ctx: RoomContext, userId: string): void {
  if (!ctx.identity.users.has(userId)) throw new MatrixError(400, 'M_UNKNOWN', `${userId} is not a local user of ${ctx.identity.serverName}`);
}

export function createJoining(ctx: RoomContext, inbound: Inbound): Joining {
  const { data, identity } = ctx;

  async function resolveAlias(alias: string) {
    const local = data.store.aliases.get(alias);
    if (local) return { roomId: local, servers: [identity.serverName] };
    const server = domainOf(alias);
    if (!alias.startsWith('#') || server === '') throw new MatrixError(400, 'M_INVALID_PARAM', `Not a room alias: ${alias}`);
    if (server === identity.serverName) throw notFound(`Room alias ${alias} not found`);
    const r = await ctx.request(server, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${encodeURIComponent(alias)}`);
    const body = r.body as { room_id?: unknown; servers?: unknown };
    if (typeof body?.room_id !== 'string') throw new MatrixError(502, 'M_UNKNOWN', `${server} answered the directory query for ${alias} without a room_id`);
    const servers = Array.isArray(body.servers) ? body.servers.filter((s): s is string => typeof s === 'string') : [];
    return { roomId: body.room_id, servers: servers.length > 0 ? servers : [server] };
  }

  /** The signed join event built from a resident's make_join template. */
  function fillTemplate(template: Pdu, version: RoomVersion): RoomEvent {
    const { signatures: _s, hashes: _h, unsigned: _u, event_id: _e, ...rest } = template;
    const pdu: Pdu = { ...rest, origin_server_ts: ctx.now() };
    if (!version.updatedRedactionRules) pdu.origin = identity.serverName;
    if (version.eventFormat === 1) pdu.event_id = `$${ctx.randomId()}:${identity.serverName}`;
    return parsePdu(signPdu(pdu, version, identity.serverName, identity.signingKey), version);
  }

  async function remoteJoin(userId: string, roomId: string, servers: readonly string[]): Promise<{ roomId: string; eventId: string }> {
    const errors: string[] = [];
    for (const server of servers.filter((s) => s !== identity.serverName)) {
      try {
        return await joinVia(userId, roomId, server);
      } catch (e) {
        if (e instanceof MatrixError && e.status === 403) throw e;
        errors.push(`${server}: ${(e as Error).message}`);
      }
    }
    throw new MatrixError(502, 'M_UNKNOWN', `Could not join ${roomId}: ${errors.join('; ') || 'no server to join through'}`);
  }

  async function joinVia(userId: string, roomId: string, server: string): Promise<{ roomId: string; eventId: string }> {
    const ver = supportedRoomVersions().map((v) => `ver=${v}`).join('&');
    const made = await ctx.request(server, 'GET', `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}?${ver}`).catch((e) => {
      const status = (e as { status?: number }).status;
      const body = (e as { body?: { errcode?: string; error?: string } }).body;
      if (status === 403 || status === 404) throw new MatrixError(status, body?.errcode ?? 'M_FORBIDDEN', `${server} refused the join: ${body?.error ?? e.message}`);
      throw e;
    });
    const answer = made.body as { event?: unknown; room_version?: unknown };
    const versionId = typeof answer?.room_version === 'string' ? answer.room_version : '1';
    const version = roomVersion(versionId);
    if (!version) throw new MatrixError(400, 'M_UNSUPPORTED_ROOM_VERSION', `${roomId} is of room version ${versionId}, which fedpeer does not support`);
    if (typeof answer.event !== 'object' || answer.event === null) throw new Error(`${server} answered make_join without an event`);
    const join = fillTemplate(answer.event as Pdu, version);
    if (join.type !== 'm.room.member' || join.stateKey !== userId || join.content.membership !== 'join' || join.roomId !== roomId) {
      throw new Error(`${server} answered make_join with a template that is not ${userId}'s join to ${roomId}`);
    }
    const sent = await ctx.request(server, 'PUT', `/_matrix/federation/v2/send_join/${encodeURIComponent(roomId)}/${encodeURIComponent(join.eventId)}`, {
      body: join.pdu,
      timeoutMs: JOIN_TIMEOUT_MS,
      maxBytes: 256 * 1024 * 1024,
    });
    const body = sent.body as { state?: unknown; auth_chain?: unknown; event?: unknown };
    if (!Array.isArray(body?.state) || !Array.isArray(body.auth_chain)) throw new Error(`${server} answered send_join without state and auth_chain`);
    // A restricted join comes back signed by the resident too: that copy is the one the room sees.
    let joinEvent = join;
    if (typeof body.event === 'object' && body.event !== null) {
      try {
        const theirs = parsePdu(body.event, version);
        if (theirs.eventId === join.eventId) joinEvent = theirs;
      } catch (e) {
        if (!(e instanceof EventFormatError)) throw e;
      }
    }
    // Signatures (and the keys they need) checked before the room is locked; only the placements happen in it.
    const checked = await checkEvents(identity, ctx.keys, [...(body.auth_chain as unknown[]), ...(body.state as unknown[])], version, (id) => data.stored(id) !== undefined);
    const joined = await ctx.roomLock.run(roomId, async () => {
      const fresh = !data.room(roomId);
      if (fresh) data.putRoom({ roomId, version: version.id, extremities: [], stateGroup: data.groups.create(new Map()), depth: 0, stream: 0, createdTs: ctx.now() });
      const stored = await inbound.placeOutliers(roomId, checked);
      const state = new Map<string, string>();
      for (const pdu of body.state as unknown[]) {
        const eventId = eventIdOf(pdu, version);
        const s = eventId === undefined ? undefined : stored.get(eventId);
        if (!s || s.placement.status === 'rejected' || s.event.stateKey === undefined) continue;
        state.set(stateSlot(s.event.type, s.event.stateKey), s.event.eventId);
      }
      const auth = authAgainst(data, joinEvent, state);
      if (!auth.ok || !state.has(stateSlot('m.room.create', ''))) {
        if (fresh) data.store.rooms.remove(roomId);
        await data.store.commit();
        throw forbidden(`The state ${server} returned does not allow the join: ${auth.ok ? 'no m.room.create' : auth.reason}`);
      }
      placeEvent(data, joinEvent, { receivedTs: ctx.now(), stateBefore: state });
      data.store.invites.remove(`${roomId}\u0000${userId}`);
      await data.store.commit();
      ctx.notify(joinEvent, 'accepted');
      return { roomId, eventId: joinEvent.eventId };
    });
    // The join stands whatever the history fetch does: backfillOnJoin logs its failures and never throws.
    await backfillOnJoin(ctx, inbound, server, joinEvent, version);
    return joined;
  }

  function eventIdOf(pdu: unknown, version: RoomVersion): string | undefined {
    try {
      return parsePdu(pdu, version).eventId;
    } catch {
      return undefined;
    }
  }

  async function join(userId: string, roomIdOrAlias: string, opts: { via?: readonly string[] } = {}) {
    localUser(ctx, userId);
    let roomId = roomIdOrAlias;
    let servers = [...(opts.via ?? [])];
    if (roomIdOrAlias.startsWith('#')) {
      const found = await resolveAlias(roomIdOrAlias);
      roomId = found.roomId;
      servers = [...servers, ...found.servers];
    }
    // In the room already (another local user is joined): our own join event.
    if (data.room(roomId) && data.joinedServers(data.currentState(roomId)).has(identity.serverName)) {
      const event = await sendLocalEvent(ctx, { roomId, sender: userId, type: 'm.room.member', stateKey: userId, content: { membership: 'join' } });
      return { roomId, eventId: event.eventId };
    }
    const invite = data.store.invites.get(`${roomId}\u0000${userId}`);
    if (invite) servers.push(domainOf(String(invite.event.sender)));
    servers.push(domainOf(roomId));
    return remoteJoin(userId, roomId, [...new Set(servers)]);
  }

  async function leave(userId: string, roomId: string) {
    localUser(ctx, userId);
    const state = data.room(roomId) ? data.currentState(roomId) : undefined;
    const invite = data.store.invites.get(`${roomId}\u0000${userId}`);
    const membership = state && data.membership(state, userId);
    // Our own leave when the room's state here knows the user (an invite may not have reached it yet: then the inviting server builds it).
    if (state && data.joinedServers(state).has(identity.serverName) && (membership === 'join' || membership === 'invite' || !invite)) {
      const event = await sendLocalEvent(ctx, { roomId, sender: userId, type: 'm.room.member', stateKey: userId, content: { membership: 'leave' } });
      return { eventId: event.eventId };
    }
    if (!invite) throw notFound(`${userId} is neither in nor invited to ${roomId}`);
    // Declining an invite: the inviting server builds the leave for us.
    const server = domainOf(String(invite.event.sender));
    const made = await ctx.request(server, 'GET', `/_matrix/federation/v1/make_leave/${encodeURIComponent(roomId)}/${encodeURIComponent(userId)}`);
    const answer = made.body as { event?: Pdu; room_version?: string };
    const version = roomVersion(answer.room_version ?? invite.version)!;
    const event = fillTemplate(answer.event!, version);
    await ctx.request(server, 'PUT', `/_matrix/federation/v2/send_leave/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`, { body: event.pdu });
    data.store.invites.remove(`${roomId}\u0000${userId}`);
    await data.store.commit();
    return { eventId: event.eventId };
  }

  async function invite(sender: string, roomId: string, userId: string) {
    localUser(ctx, sender);
    if (!data.room(roomId)) throw notFound(`Unknown room ${roomId}`);
    if (identity.users.has(userId) || domainOf(userId) === identity.serverName) {
      const event = await sendLocalEvent(ctx, { roomId, sender, type: 'm.room.member', stateKey: userId, content: { membership: 'invite' } });
      return { eventId: event.eventId };
    }
    // No lock while the invitee's server answers: the co-signed invite is checked against the room as it is by then.
    const server = domainOf(userId);
    const version = data.version(roomId);
    const state = data.currentState(roomId);
    const event = signedEvent(ctx, eventFields(data, { roomId, sender, type: 'm.room.member', stateKey: userId, content: { membership: 'invite' } }, ctx.now(), state), version);
    const allowed = authAgainst(data, event, state);
    if (!allowed.ok) throw forbidden(`${sender} cannot invite ${userId}: ${allowed.reason}`);
    const stripped = [...data.stateEvents(state, [...INVITE_STATE_TYPES.map((t) => stateSlot(t, '')), stateSlot('m.room.member', sender)]).values()].map((e) => ({
      type: e.type,
      state_key: e.stateKey,
      sender: e.sender,
      content: e.content,
    }));
    const r = await ctx.request(server, 'PUT', `/_matrix/federation/v2/invite/${encodeURIComponent(roomId)}/${encodeURIComponent(event.eventId)}`, {
      body: { event: event.pdu, room_version: version.id, invite_room_state: stripped },
    });
    const returned = (r.body as { event?: unknown })?.event;
    const cosigned = parsePdu(returned, version);
    if (cosigned.eventId !== event.eventId) throw new MatrixError(502, 'M_UNKNOWN', `${server} returned a different invite event`);
    await checkCosignature(cosigned, server, version);
    return ctx.roomLock.run(roomId, async () => ({ eventId: (await commitLocalEvent(ctx, cosigned)).eventId }));
  }

  /** The invitee's server must have signed the invite with a key of its own. */
  async function checkCosignature(event: RoomEvent, server: string, version: RoomVersion): Promise<void> {
    const sigs = (event.pdu.signatures as Record<string, Record<string, string>> | undefined)?.[server] ?? {};
    const { keys } = await ctx.keys.getServerKeys(server);
    const redacted = redactPdu(event.pdu, version);
    for (const keyId of Object.keys(sigs)) {
      const key = keys?.verifyKeys[keyId];
      if (key && verifyJsonSignature(redacted, server, keyId, key.publicKey).ok) return;
    }
    throw new MatrixError(502, 'M_UNKNOWN', `${server} did not sign the invite with a key it publishes`);
  }

  return { resolveAlias, join, leave, invite };
}
