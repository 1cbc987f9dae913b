// The room the room checks run in, and the moves they share. The probe's
// room peer (its identity's, with a store made for this run) either joins a
// room of the target (--room) or creates one and invites the user of a
// client access token, who joins it through the client API. Events made to
// order go to the target in transactions the probe signs and records; what
// became of them is read back through federation (/event, make_join's
// prev_events, /state_ids) and, with a token, the client API.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JsonObject } from '../matrix/canonical-json.js';
import { encodeBase64 } from '../matrix/base64.js';
import { computeReferenceHash, roomVersion, supportedRoomVersions, type Pdu, type RoomVersion } from '../matrix/events/index.js';
import { requiredPowerLevel, userPowerLevel } from '../matrix/auth/index.js';
import type { BuildEventOptions, BuiltEvent } from '../rooms/build-event.js';
import { signedHeader } from './auth-headers.js';
import type { ProbeContext } from './context.js';
import { describe } from './judge.js';
import type { EventObservation } from './room-judge.js';
import type { SendResult } from './sender.js';
import type { Exchange } from './types.js';

export interface ProbeUsers {
  /** Joins (or creates) the room; sends the valid events and the markers. */
  main: string;
  /** In a room the probe creates: a member without power. */
  member: string;
  /** Never joins: its messages must be rejected. */
  outsider: string;
}

export function probeUsers(serverName: string): ProbeUsers {
  return { main: `@fedpeer-probe:${serverName}`, member: `@fedpeer-probe-member:${serverName}`, outsider: `@fedpeer-probe-outsider:${serverName}` };
}

export interface ProbeRoom {
  roomId: string;
  version: RoomVersion;
  /** How the probe got into the room, for the reasons. */
  how: string;
  user: string;
  /** The probe's joined user with the least power. */
  weakUser: string;
  /** A joined member on the target's server, in whose name the probe forges events. */
  targetMember?: string;
  /** The client API's user, when it is joined to the room. */
  clientUser?: string;
  setup: Exchange[];
}

export type RoomSession = { room: ProbeRoom } | { missing: string; setup: Exchange[] };

const enc = encodeURIComponent;
const POLL_MS = 200;
/** Tries of a transaction the target answers 429 (it takes one transaction per origin at a time, as Synapse does). */
const BUSY_RETRIES = 5;

export const NO_ROOM =
  'no room to run in: give --room ALIAS_OR_ID (a room on the target the probe may join), or --access-token with --client-url (the probe creates a room and invites the token\'s user)';

export function exchange(label: string, r: SendResult, finding: string): Exchange {
  return { label, request: r.request, response: r.response, finding };
}

/** A signed federation request to the target. */
export function signedRequest(ctx: ProbeContext, method: string, path: string, body?: unknown): Promise<SendResult> {
  const authorization = [signedHeader({ method, uri: path, ...(body !== undefined ? { content: body } : {}) }, ctx.keys)];
  return ctx.send({ method, path, authorization, ...(body !== undefined ? { body } : {}) });
}

export const roomSession = (ctx: ProbeContext): Promise<RoomSession> => ctx.shared('room-session', () => setUpRoom(ctx));

async function setUpRoom(ctx: ProbeContext): Promise<RoomSession> {
  const users = probeUsers(ctx.origin);
  const setup: Exchange[] = [];
  let clientUser: string | undefined;
  if (ctx.client) {
    const r = await ctx.client.whoami();
    const id = (r.json as { user_id?: unknown } | undefined)?.user_id;
    setup.push(exchange('client API: whoami', r, typeof id === 'string' ? `the token is ${id}'s` : describe(r.response)));
    if (typeof id !== 'string') return { missing: `the client API at ${ctx.client.url} did not take the access token (whoami: ${describe(r.response)})`, setup };
    if (ctx.client.user !== undefined && ctx.client.user !== id) return { missing: `the access token is ${id}'s, not ${ctx.client.user}'s as --user says`, setup };
    clientUser = id;
  }
  let roomId: string;
  let how: string;
  let weakUser = users.main;
  if (ctx.room !== undefined) {
    try {
      roomId = (await ctx.rooms.join(users.main, ctx.room, { via: [ctx.target] })).roomId;
    } catch (e) {
      return { missing: `${users.main} could not join ${ctx.room} through ${ctx.target}: ${(e as Error).message}`, setup };
    }
    how = `${users.main} joined ${ctx.room}${ctx.room === roomId ? '' : ` (${roomId})`}`;
    ctx.atEnd(async () => {
      const { eventId } = await ctx.rooms.leave(users.main, roomId);
      await waitServed(ctx, eventId, 'leave', true);
    });
  } else if (ctx.client && clientUser) {
    const created = await createAndInvite(ctx, users, clientUser, setup);
    if ('missing' in created) return { missing: created.missing, setup };
    roomId = created.roomId;
    weakUser = users.member;
    how = `the probe created ${roomId}; ${clientUser} joined it through the client API`;
  } else {
    return { missing: NO_ROOM, setup };
  }
  const version = roomVersion(ctx.rooms.data.room(roomId)!.version)!;
  const members = ctx.rooms.state(roomId).filter((s) => s.type === 'm.room.member' && s.content.membership === 'join').map((s) => s.stateKey);
  const targetMember = members.find((m) => m.endsWith(`:${ctx.target}`));
  const inRoom = clientUser !== undefined && members.includes(clientUser) ? clientUser : undefined;
  if (clientUser !== undefined && inRoom === undefined) how += `; ${clientUser} (the access token's user) is not in it, so the client API shows nothing`;
  // Everything the set-up sent must have reached the target before the first check.
  const marker = await sync(ctx, { roomId, user: users.main }, 'set-up done');
  setup.push(marker.exchange);
  if (!marker.ok) return { missing: `the target did not show the probe's events of ${roomId}: ${marker.exchange.finding}`, setup };
  return {
    room: {
      roomId,
      version,
      how,
      user: users.main,
      weakUser,
      ...(targetMember !== undefined ? { targetMember } : {}),
      ...(inRoom !== undefined ? { clientUser: inRoom } : {}),
      setup,
    },
  };
}

/** A room of the probe's, the client's user invited and joined (through the client API), and a member without power. */
async function createAndInvite(ctx: ProbeContext, users: ProbeUsers, clientUser: string, setup: Exchange[]): Promise<{ roomId: string } | { missing: string }> {
  const client = ctx.client!;
  const { roomId } = await ctx.rooms.createRoom({ creator: users.main, joinRule: 'invite', name: `fedpeer probe ${ctx.runTag}` });
  try {
    await ctx.rooms.invite(users.main, roomId, clientUser);
  } catch (e) {
    return { missing: `the target refused the invite of ${clientUser} to the probe's room: ${(e as Error).message}` };
  }
  const joined = ctx.rooms.waitForEvent(roomId, (e) => e.type === 'm.room.member' && e.stateKey === clientUser && e.content.membership === 'join', { timeout: ctx.roomWaitMs });
  joined.catch(() => {});
  const r = await client.join(roomId, [ctx.origin]);
  const ok = 'status' in r.response && r.response.status === 200;
  setup.push(exchange(`client API: ${clientUser} joins`, r, ok ? 'joined' : describe(r.response)));
  if (!ok) return { missing: `${clientUser} could not join the probe's room through the client API: ${describe(r.response)}` };
  ctx.atEnd(async () => {
    const left = ctx.rooms.waitForEvent(roomId, (e) => e.type === 'm.room.member' && e.stateKey === clientUser && e.content.membership === 'leave', { timeout: ctx.roomWaitMs });
    left.catch(() => {});
    await client.leave(roomId);
    await left;
  });
  try {
    await joined;
  } catch {
    return { missing: `the target said ${clientUser} joined, but no join reached the probe within ${ctx.roomWaitMs} ms` };
  }
  await ctx.rooms.invite(users.main, roomId, users.member);
  await ctx.rooms.join(users.member, roomId);
  return { roomId };
}

/** An event made to order in the room, signed by the probe's server. */
export function build(ctx: ProbeContext, room: Pick<ProbeRoom, 'roomId'>, o: Omit<BuildEventOptions, 'roomId'>): BuiltEvent {
  return ctx.rooms.buildEvent({ roomId: room.roomId, ...o });
}

/** Options that put an event right after `parent` (which the probe's own store does not hold). */
export function after(parent: BuiltEvent, version: RoomVersion, extra: JsonObject = {}): Pick<BuildEventOptions, 'extra' | 'depth'> {
  const ref = version.eventFormat === 1 ? [parent.eventId, { sha256: encodeBase64(computeReferenceHash(parent.pdu, version)) }] : parent.eventId;
  return { depth: (parent.pdu.depth as number) + 1, extra: { prev_events: [ref], ...extra } };
}

export interface TransactionSent {
  result: SendResult;
  /** The per-PDU results of a 200 answer. */
  pdus?: Record<string, { error?: string }>;
}

export function newTxnId(ctx: ProbeContext): string {
  return `fedpeer-probe-${ctx.runTag}-${randomBytes(6).toString('hex')}`;
}

/** PUT /send with these PDUs, signed by the probe; retried while the target says it is busy with another transaction of ours. */
export async function sendTransaction(ctx: ProbeContext, pdus: readonly Pdu[], txnId = newTxnId(ctx)): Promise<TransactionSent> {
  const path = `/_matrix/federation/v1/send/${enc(txnId)}`;
  let result: SendResult;
  for (let attempt = 1; ; attempt++) {
    result = await signedRequest(ctx, 'PUT', path, { origin: ctx.origin, origin_server_ts: ctx.now(), pdus, edus: [] });
    if (!('status' in result.response) || result.response.status !== 429 || attempt >= BUSY_RETRIES) break;
    await sleep(1000);
  }
  const body = result.json as { pdus?: unknown } | undefined;
  const ok = 'status' in result.response && result.response.status === 200 && typeof body?.pdus === 'object' && body.pdus !== null;
  return { result, ...(ok ? { pdus: body.pdus as Record<string, { error?: string }> } : {}) };
}

/** "/send: 200, 1 PDU result" style finding. */
export function describeSend(t: TransactionSent): string {
  if (!t.pdus) return `/send: ${describe(t.result.response)}`;
  const entries = Object.entries(t.pdus);
  const errors = entries.filter(([, r]) => typeof r?.error === 'string');
  return `/send: 200, ${entries.length} PDU result(s)${errors.length > 0 ? `, ${errors.length} with an error` : ''}`;
}

export function getEvent(ctx: ProbeContext, eventId: string): Promise<SendResult> {
  return signedRequest(ctx, 'GET', `/_matrix/federation/v1/event/${enc(eventId)}`);
}

export const statusOf = (r: SendResult): number | undefined => ('status' in r.response ? r.response.status : undefined);

/** What an answer of /event says of the event. */
export function readServed(r: SendResult): EventObservation['served'] {
  const pdu = (r.json as { pdus?: unknown[] } | undefined)?.pdus?.[0] as { content?: unknown } | undefined;
  const status = statusOf(r);
  if (status === 200 && typeof pdu?.content === 'object' && pdu.content !== null) return { content: pdu.content as JsonObject };
  if (status === 404) return 'not_found';
  return { unknown: `/event answered ${describe(r.response)}` };
}

/**
 * Asks /event until the target serves the event or roomWaitMs pass. With
 * `orForbidden` a 403 ends the wait too: after the probe's own leave the
 * target no longer serves the room's events to it, and says so.
 */
export async function waitServed(ctx: ProbeContext, eventId: string, label: string, orForbidden = false): Promise<{ ok: boolean; exchange: Exchange }> {
  const deadline = performance.now() + ctx.roomWaitMs;
  let tries = 0;
  for (;;) {
    const r = await getEvent(ctx, eventId);
    tries++;
    const status = 'status' in r.response ? r.response.status : undefined;
    if (status === 200 || (orForbidden && status === 403)) return { ok: true, exchange: exchange(`${label}: /event`, r, `${status === 200 ? 'served' : 'known'} after ${tries} request(s)`) };
    if (status === undefined || performance.now() + POLL_MS > deadline) {
      return { ok: false, exchange: exchange(`${label}: /event`, r, `not served within ${ctx.roomWaitMs} ms (${tries} request(s)), last: ${describe(r.response)}`) };
    }
    await sleep(POLL_MS);
  }
}

/**
 * A message of the probe's user sent the ordinary way (the room peer's own
 * outbound queue), waited for at the target: the target handles a room's
 * events in the order they arrive, so once it serves this one it has dealt
 * with everything sent before.
 */
export async function sync(ctx: ProbeContext, room: Pick<ProbeRoom, 'roomId' | 'user'>, label: string): Promise<{ ok: boolean; exchange: Exchange }> {
  const { eventId } = await ctx.rooms.send(room.user, room.roomId, { msgtype: 'm.notice', body: `fedpeer probe: ${label}` });
  return waitServed(ctx, eventId, `marker (${label})`);
}

/** The prev_events of the event the target would make next: make_join's template for the probe's joined user. */
export async function newestEvents(ctx: ProbeContext, room: ProbeRoom): Promise<{ prev?: string[]; exchange: Exchange }> {
  const ver = supportedRoomVersions().map((v) => `ver=${v}`).join('&');
  const r = await signedRequest(ctx, 'GET', `/_matrix/federation/v1/make_join/${enc(room.roomId)}/${enc(room.user)}?${ver}`);
  const prev = (r.json as { event?: { prev_events?: unknown } } | undefined)?.event?.prev_events;
  if (!('status' in r.response) || r.response.status !== 200 || !Array.isArray(prev)) return { exchange: exchange('make_join', r, `no template: ${describe(r.response)}`) };
  const ids = prev.map((p) => (Array.isArray(p) ? p[0] : p)).filter((p): p is string => typeof p === 'string');
  return { prev: ids, exchange: exchange('make_join', r, `prev_events: ${ids.join(', ')}`) };
}

/** Whether the state the target holds at `at` (before it) contains `eventId`. */
async function stateHolds(ctx: ProbeContext, room: ProbeRoom, at: string, eventId: string): Promise<{ holds?: boolean; exchange: Exchange }> {
  const r = await signedRequest(ctx, 'GET', `/_matrix/federation/v1/state_ids/${enc(room.roomId)}?event_id=${enc(at)}`);
  const ids = (r.json as { pdu_ids?: unknown } | undefined)?.pdu_ids;
  if (!('status' in r.response) || r.response.status !== 200 || !Array.isArray(ids)) return { exchange: exchange('state_ids', r, `no state: ${describe(r.response)}`) };
  const holds = ids.includes(eventId);
  return { holds, exchange: exchange('state_ids', r, holds ? `the state holds ${eventId}` : `the state does not hold ${eventId}`) };
}

export interface ObserveOptions {
  /** A state event: read /state_ids at this event (one right after it), or at a message the probe sends after it. */
  state?: { after?: string };
  /** Leave out make_join (when another event is sent after this one on purpose). */
  skipNewest?: boolean;
}

/** What the target shows of `event` (sent before the last sync). */
export async function observe(ctx: ProbeContext, room: ProbeRoom, event: BuiltEvent, sent: TransactionSent, opts: ObserveOptions = {}): Promise<{ observation: EventObservation; exchanges: Exchange[] }> {
  const exchanges: Exchange[] = [];
  const entry = sent.pdus?.[event.eventId];
  const observation: EventObservation = { served: { unknown: 'not asked' }, ...(entry !== undefined ? { pduResult: typeof entry?.error === 'string' ? { error: entry.error } : {} } : {}) };
  const got = await getEvent(ctx, event.eventId);
  observation.served = readServed(got);
  exchanges.push(exchange('/event', got, describe(got.response)));
  if (!opts.skipNewest) {
    const newest = await newestEvents(ctx, room);
    exchanges.push(newest.exchange);
    if (newest.prev) observation.newest = newest.prev.includes(event.eventId);
  }
  if (room.clientUser !== undefined && ctx.client) {
    const c = await ctx.client.event(room.roomId, event.eventId);
    const cs = 'status' in c.response ? c.response.status : undefined;
    const content = (c.json as { content?: unknown } | undefined)?.content;
    if (cs === 200 && typeof content === 'object' && content !== null) observation.client = { content: content as JsonObject };
    else if (cs === 404) observation.client = 'not_found';
    exchanges.push(exchange('client API: the event', c, cs === 200 ? 'shown' : describe(c.response)));
  }
  if (opts.state && typeof observation.served === 'object' && 'content' in observation.served) {
    let at = opts.state.after;
    if (at === undefined) {
      // A message right after it: the state at that message is the state this event made.
      const next = build(ctx, room, { sender: room.user, type: 'm.room.message', content: { msgtype: 'm.notice', body: 'fedpeer probe: after a state event' }, ...after(event, room.version) });
      const t = await sendTransaction(ctx, [next.pdu]);
      const refused = t.pdus?.[next.eventId]?.error;
      // The spec allows events that reference rejected ones; a target that refuses them leaves make_join to tell.
      exchanges.push(exchange('a message after it', t.result, refused === undefined ? describeSend(t) : `refused ("${refused}"), so /state_ids cannot show the state this event made`));
      if (refused === undefined) {
        const w = await waitServed(ctx, next.eventId, 'the message after it');
        exchanges.push(w.exchange);
        if (w.ok) at = next.eventId;
      }
    }
    if (at !== undefined) {
      const s = await stateHolds(ctx, room, at, event.eventId);
      exchanges.push(s.exchange);
      if (s.holds !== undefined) observation.inState = s.holds;
    }
  }
  return { observation, exchanges };
}

/** The power a user has and the power a state event of `type` needs, in the probe's view of the room. */
export function statePower(ctx: ProbeContext, room: ProbeRoom, userId: string, type: string): { has: number; needs: number } {
  const current = (t: string) => {
    const entry = ctx.rooms.state(room.roomId).find((s) => s.type === t && s.stateKey === '');
    return entry === undefined ? undefined : ctx.rooms.data.event(entry.eventId);
  };
  const pl = current('m.room.power_levels');
  return { has: userPowerLevel(userId, pl, current('m.room.create')), needs: requiredPowerLevel(pl, type, true) };
}
