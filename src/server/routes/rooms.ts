// The room peer's federation endpoints, behind X-Matrix: transactions, the
// resident side of joins, leaves and invites, and what a homeserver asks of a
// room participant. Each request passes the peer's hooks first (a test may
// reject, delay or answer it), then the room peer handed in answers it.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { MatrixError, badJson } from '../../matrix/errors.js';
import { addRoute } from '../matrix-errors.js';
import type { RoomPeer } from '../../rooms/peer.js';
import { consultHooks, type FederationEndpoint } from '../../rooms/hooks.js';
import { requestLifetime } from '../request-signal.js';

export interface RoomRouteDeps {
  peer: Pick<RoomPeer, 'hooks' | 'transactions' | 'resident' | 'queries' | 'originSeen' | 'admission'>;
  auth: preHandlerAsyncHookHandler;
}

/** A transaction of 50 PDUs of 64 KiB and 100 EDUs, with room to spare. */
export const SEND_BODY_LIMIT = 8 * 1024 * 1024;
const EVENT_BODY_LIMIT = 256 * 1024;
const INVITE_BODY_LIMIT = 1024 * 1024;

type Params = Record<string, string>;

function origin(request: FastifyRequest): string {
  return request.xMatrixOrigin!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Work for a request whose sender stopped waiting is dropped after this: far
 * beyond what a transaction may spend fetching (30 s), so it only cuts work
 * nobody reads; a sender that goes away stops its work at once.
 */
const ANSWER_WITHIN_MS = 120_000;

export function registerRoomRoutes(app: FastifyInstance, deps: RoomRouteDeps): void {
  const { peer } = deps;
  const route = (
    method: 'GET' | 'PUT' | 'POST',
    url: string,
    endpoint: FederationEndpoint,
    handler: (request: FastifyRequest, params: Params, signal: AbortSignal) => unknown,
    bodyLimit?: number,
  ) =>
    addRoute(
      app,
      url,
      {
        [method]: async (request: FastifyRequest, reply: FastifyReply) => {
          const params = request.params as Params;
          peer.originSeen(origin(request));
          const decision = await consultHooks(peer.hooks, { endpoint, origin: origin(request), params, query: request.query as Record<string, unknown>, body: request.body });
          if (decision?.delayMs !== undefined) await sleep(decision.delayMs);
          if (decision?.reject) throw new MatrixError(decision.reject.status, decision.reject.errcode, decision.reject.error ?? 'Refused by a hook');
          if (decision?.respond !== undefined) return decision.respond;
          const lifetime = requestLifetime(reply, ANSWER_WITHIN_MS);
          try {
            // Transactions have their own lanes, one at a time per origin (transactions.ts).
            if (endpoint === 'send') return await handler(request, params, lifetime.signal);
            return await peer.admission.run(origin(request), () => handler(request, params, lifetime.signal), lifetime.signal);
          } finally {
            lifetime.done();
          }
        },
      },
      { preHandler: deps.auth, ...(bodyLimit !== undefined ? { bodyLimit } : {}) },
    );
  const fed = '/_matrix/federation';

  route('PUT', `${fed}/v1/send/:txnId`, 'send', (r, p, signal) => peer.transactions.receive(origin(r), p.txnId!, r.body, signal), SEND_BODY_LIMIT);

  const versions = (q: unknown): string[] => {
    const ver = (q as { ver?: unknown }).ver;
    const list = ver === undefined ? ['1'] : Array.isArray(ver) ? ver : [ver];
    return list.filter((v): v is string => typeof v === 'string');
  };
  route('GET', `${fed}/v1/make_join/:roomId/:userId`, 'make_join', (r, p) => peer.resident.makeMembership('join', origin(r), p.roomId!, p.userId!, versions(r.query)));
  route('GET', `${fed}/v1/make_leave/:roomId/:userId`, 'make_leave', (r, p) => peer.resident.makeMembership('leave', origin(r), p.roomId!, p.userId!, []));
  route('PUT', `${fed}/v2/send_join/:roomId/:eventId`, 'send_join', (r, p) => peer.resident.sendJoin(origin(r), p.roomId!, p.eventId!, r.body), EVENT_BODY_LIMIT);
  // v1 answers are [200, body], a relic of Synapse's Twisted handlers.
  route('PUT', `${fed}/v1/send_join/:roomId/:eventId`, 'send_join', async (r, p) => [200, await peer.resident.sendJoin(origin(r), p.roomId!, p.eventId!, r.body)], EVENT_BODY_LIMIT);
  route('PUT', `${fed}/v2/send_leave/:roomId/:eventId`, 'send_leave', (r, p) => peer.resident.sendLeave(origin(r), p.roomId!, p.eventId!, r.body), EVENT_BODY_LIMIT);
  route('PUT', `${fed}/v1/send_leave/:roomId/:eventId`, 'send_leave', async (r, p) => [200, await peer.resident.sendLeave(origin(r), p.roomId!, p.eventId!, r.body)], EVENT_BODY_LIMIT);
  route('PUT', `${fed}/v2/invite/:roomId/:eventId`, 'invite', (r, p) => peer.resident.invite(origin(r), p.roomId!, p.eventId!, r.body, 2), INVITE_BODY_LIMIT);
  route('PUT', `${fed}/v1/invite/:roomId/:eventId`, 'invite', async (r, p) => [200, await peer.resident.invite(origin(r), p.roomId!, p.eventId!, r.body, 1)], INVITE_BODY_LIMIT);

  const eventIdParam = (q: unknown): string => {
    const id = (q as { event_id?: unknown }).event_id;
    if (typeof id !== 'string' || id === '') throw new MatrixError(400, 'M_MISSING_PARAM', 'Missing event_id');
    return id;
  };
  route('GET', `${fed}/v1/event/:eventId`, 'event', (r, p) => peer.queries.event(origin(r), p.eventId!));
  route('GET', `${fed}/v1/state/:roomId`, 'state', (r, p) => peer.queries.state(origin(r), p.roomId!, eventIdParam(r.query)));
  route('GET', `${fed}/v1/state_ids/:roomId`, 'state_ids', (r, p) => peer.queries.stateIds(origin(r), p.roomId!, eventIdParam(r.query)));
  route('GET', `${fed}/v1/event_auth/:roomId/:eventId`, 'event_auth', (r, p) => peer.queries.eventAuth(origin(r), p.roomId!, p.eventId!));
  route('GET', `${fed}/v1/backfill/:roomId`, 'backfill', (r, p) => {
    const q = r.query as { v?: unknown; limit?: unknown };
    const from = (Array.isArray(q.v) ? q.v : q.v === undefined ? [] : [q.v]).filter((v): v is string => typeof v === 'string');
    if (from.length === 0) throw new MatrixError(400, 'M_MISSING_PARAM', 'Missing v');
    const limit = Number(q.limit ?? 10);
    if (!Number.isInteger(limit)) throw new MatrixError(400, 'M_INVALID_PARAM', 'limit must be an integer');
    return peer.queries.backfill(origin(r), p.roomId!, from.slice(0, 20), limit);
  });
  route('POST', `${fed}/v1/get_missing_events/:roomId`, 'get_missing_events', (r, p) => peer.queries.missingEvents(origin(r), p.roomId!, r.body));
  route('GET', `${fed}/v1/query/directory`, 'query_directory', (r) => {
    const alias = (r.query as { room_alias?: unknown }).room_alias;
    if (typeof alias !== 'string' || alias === '') throw new MatrixError(400, 'M_MISSING_PARAM', 'Missing room_alias');
    return peer.queries.directory(alias);
  });
  // fedpeer's users have no devices: empty lists, so a homeserver has its answer and never backs off.
  route('GET', `${fed}/v1/user/devices/:userId`, 'user_devices', (_r, p) => ({ user_id: p.userId, stream_id: 0, devices: [] }));
  route('POST', `${fed}/v1/user/keys/query`, 'user_keys_query', (r) => {
    const keys = (r.body as { device_keys?: unknown } | null)?.device_keys;
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw badJson('device_keys: expected an object');
    return { device_keys: Object.fromEntries(Object.keys(keys).slice(0, 1000).map((u) => [u, {}])) };
  });
}
