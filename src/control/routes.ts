// The control API's endpoints: the library's room peer methods over HTTP,
// one route each, every input read through validate.ts. docs/CONTROL.md
// describes each with a curl example.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { MatrixError, unknownError } from '../matrix/errors.js';
import { DEFAULT_ROOM_VERSION, supportedRoomVersions } from '../matrix/events/room-versions.js';
import { EventFormatError } from '../matrix/events/index.js';
import { FederationError } from '../federation/errors.js';
import type { FederationAnswer, TransactionInput } from '../federation/raw-request.js';
import type { RoomPeer } from '../rooms/peer.js';
import { addRoute } from '../server/matrix-errors.js';
import { eventMatcher } from './event-match.js';
import { ENDPOINTS, type HookRules, type RuleSpec } from './hook-rules.js';
import * as v from './validate.js';
import { eduView, eventView, inviteView, requestView, ruleView, stateView } from './views.js';

export const CONTROL_PREFIX = '/_fedpeer/control/v1';

export interface ControlDeps {
  peer: RoomPeer;
  rules: HookRules;
  /** Outbound requests signed as this server, answered whatever their status. */
  federation: {
    request(destination: string, method: string, path: string, body?: unknown): Promise<FederationAnswer>;
    sendTransaction(destination: string, txn: TransactionInput): Promise<FederationAnswer>;
  };
  logger: Logger;
  /** Long-polls waiting at once (default 64); more get 429. */
  maxWaits?: number;
}

/** Bodies of requests that carry PDUs (send-transaction, federation-request): 50 PDUs of 64 KiB with room to spare. */
export const LARGE_BODY_LIMIT = 8 * 1024 * 1024;
export const BODY_LIMIT = 1024 * 1024;
export const MAX_WAIT_MS = 120_000;
const DEFAULT_WAIT_MS = 10_000;
const MAX_PAGE = 1000;

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Errors of the library and the federation client as Matrix errors a test can read. */
export function controlError(e: unknown): MatrixError {
  if (e instanceof MatrixError) return e;
  if (e instanceof FederationError) {
    return new MatrixError(502, 'M_UNKNOWN', `federation request failed: ${e.message}`, {
      ...(e.serverName !== undefined ? { server_name: e.serverName } : {}),
      ...(e.status !== undefined ? { remote_status: e.status, remote_body: e.body } : {}),
    });
  }
  if (e instanceof EventFormatError) return new MatrixError(400, 'M_BAD_JSON', e.message);
  return unknownError(e instanceof Error ? e.message : String(e));
}

export function registerControlRoutes(app: FastifyInstance, deps: ControlDeps): void {
  const { peer, rules } = deps;
  const { serverName, users } = peer.identity;
  const asUser = v.localUser(serverName, users);
  const maxWaits = deps.maxWaits ?? 64;
  let waiting = 0;

  const wrap = (handler: Handler): Handler => async (request, reply) => {
    try {
      return await handler(request, reply);
    } catch (e) {
      const err = controlError(e);
      if (err.status >= 500 && !(e instanceof MatrixError)) deps.logger.warn({ err: (e as Error).message, url: request.url }, 'control request failed');
      throw err;
    }
  };
  const route = (url: string, handlers: Partial<Record<'GET' | 'POST' | 'DELETE', Handler>>, bodyLimit = BODY_LIMIT) =>
    addRoute(app, `${CONTROL_PREFIX}${url}`, Object.fromEntries(Object.entries(handlers).map(([m, h]) => [m, wrap(h)])), { bodyLimit });
  const param = (request: FastifyRequest, name: string, read: v.Reader<string>) => read((request.params as Record<string, string>)[name], name);

  route('/info', {
    GET: async () => ({
      server_name: serverName,
      users: [...users.keys()],
      room_versions: supportedRoomVersions(),
      default_room_version: DEFAULT_ROOM_VERSION,
    }),
  });

  const stateEvent = v.nested(['type', 'state_key', 'content'], (f) => ({
    type: v.required(f, 'type', v.text()),
    stateKey: v.optional(f, 'state_key', v.text()) ?? '',
    content: v.required(f, 'content', v.jsonObject),
  }));
  route('/rooms', {
    GET: async () => ({ rooms: peer.rooms() }),
    POST: async (request) => {
      const f = v.fields(request.body, ['as', 'room_version', 'join_rule', 'alias', 'name', 'topic', 'initial_state', 'power_levels']);
      const roomVersion = v.optional(f, 'room_version', v.text({ max: 32 }));
      const joinRule = v.optional(f, 'join_rule', v.oneOf(['public', 'invite'] as const));
      const alias = v.optional(f, 'alias', v.text({ max: 200, pattern: /^[^:\s#]+$/, describe: 'an alias local part (no ":", "#" or spaces)' }));
      const name = v.optional(f, 'name', v.text({ max: 1000 }));
      const topic = v.optional(f, 'topic', v.text({ max: 10_000 }));
      const initialState = v.optional(f, 'initial_state', v.list(stateEvent, 100));
      const powerLevels = v.optional(f, 'power_levels', v.jsonObject);
      const created = await peer.createRoom({
        creator: v.required(f, 'as', asUser),
        ...(roomVersion !== undefined ? { roomVersion } : {}),
        ...(joinRule !== undefined ? { joinRule } : {}),
        ...(alias !== undefined ? { alias } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(topic !== undefined ? { topic } : {}),
        ...(initialState !== undefined ? { initialState } : {}),
        ...(powerLevels !== undefined ? { powerLevels } : {}),
      });
      return { room_id: created.roomId, ...(created.alias !== undefined ? { alias: created.alias } : {}) };
    },
  });

  route('/rooms/:room/join', {
    POST: async (request) => {
      const room = param(request, 'room', v.roomIdOrAlias);
      const f = v.fields(request.body, ['as', 'via']);
      const via = v.optional(f, 'via', v.list(v.serverName, 20));
      const joined = await peer.join(v.required(f, 'as', asUser), room, via ? { via } : {});
      return { room_id: joined.roomId, event_id: joined.eventId };
    },
  });

  route('/rooms/:room/leave', {
    POST: async (request) => {
      const f = v.fields(request.body, ['as']);
      const left = await peer.leave(v.required(f, 'as', asUser), param(request, 'room', v.roomId));
      return { event_id: left.eventId };
    },
  });

  route('/rooms/:room/invite', {
    POST: async (request) => {
      const f = v.fields(request.body, ['as', 'user_id']);
      const invited = await peer.invite(v.required(f, 'as', asUser), param(request, 'room', v.roomId), v.required(f, 'user_id', v.userId));
      return { event_id: invited.eventId };
    },
  });

  route('/rooms/:room/send', {
    POST: async (request) => {
      const f = v.fields(request.body, ['as', 'body', 'content', 'type']);
      const body = v.optional(f, 'body', v.text({ max: 60_000 }));
      const content = v.optional(f, 'content', v.jsonObject);
      if ((body === undefined) === (content === undefined)) throw new MatrixError(400, 'M_MISSING_PARAM', 'give either body (an m.text message) or content');
      const sent = await peer.send(v.required(f, 'as', asUser), param(request, 'room', v.roomId), (body ?? content)!, v.optional(f, 'type', v.text()));
      return { event_id: sent.eventId };
    },
  });

  route('/rooms/:room/state', {
    GET: async (request) => ({ state: peer.state(param(request, 'room', v.roomId)).map(stateView) }),
    POST: async (request) => {
      const f = v.fields(request.body, ['as', 'type', 'state_key', 'content']);
      const sent = await peer.sendState(
        v.required(f, 'as', asUser),
        param(request, 'room', v.roomId),
        v.required(f, 'type', v.text()),
        v.optional(f, 'state_key', v.text()) ?? '',
        v.required(f, 'content', v.jsonObject),
      );
      return { event_id: sent.eventId };
    },
  });

  route('/rooms/:room/events', {
    GET: async (request) => {
      const q = v.fields(request.query, ['all', 'from', 'limit'], 'query');
      const all = v.optional(q, 'all', v.booleanText) ?? false;
      const from = v.optional(q, 'from', v.integerText(0, Number.MAX_SAFE_INTEGER)) ?? 0;
      const limit = v.optional(q, 'limit', v.integerText(1, MAX_PAGE)) ?? 100;
      const timeline = peer.events(param(request, 'room', v.roomId), { all });
      const page = timeline.slice(from, from + limit);
      return { events: page.map(eventView), ...(from + limit < timeline.length ? { next: from + limit } : {}) };
    },
  });

  const match = v.nested(['event_id', 'type', 'sender', 'state_key', 'body', 'content'], (f) => {
    const m = {
      eventId: v.optional(f, 'event_id', v.eventId),
      type: v.optional(f, 'type', v.text()),
      sender: v.optional(f, 'sender', v.userId),
      stateKey: v.optional(f, 'state_key', v.text()),
      body: v.optional(f, 'body', v.text({ max: 60_000 })),
      content: v.optional(f, 'content', v.jsonObject),
    };
    return Object.fromEntries(Object.entries(m).filter(([, x]) => x !== undefined)) as Parameters<typeof eventMatcher>[0];
  });
  route('/rooms/:room/wait', {
    POST: async (request, reply) => {
      const roomId = param(request, 'room', v.roomId);
      const f = v.fields(request.body, ['match', 'timeout_ms']);
      const predicate = eventMatcher(v.optional(f, 'match', match) ?? {});
      const timeout = v.optional(f, 'timeout_ms', v.integer(0, MAX_WAIT_MS)) ?? DEFAULT_WAIT_MS;
      if (waiting >= maxWaits) throw new MatrixError(429, 'M_LIMIT_EXCEEDED', `${maxWaits} waits are already open; wait for one to end`, { retry_after_ms: 1000 });
      waiting++;
      // A client that hangs up stops its wait at once.
      const abandoned = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableEnded) abandoned.abort(new Error('client went away'));
      };
      reply.raw.once('close', onClose);
      try {
        const event = await peer.waitForEvent(roomId, predicate, { timeout, signal: abandoned.signal });
        return { event: eventView(event) };
      } catch (e) {
        if (e instanceof MatrixError && e.status === 408) return { event: null };
        throw e;
      } finally {
        waiting--;
        reply.raw.off('close', onClose);
      }
    },
  });

  route('/invites', {
    GET: async (request) => {
      const q = v.fields(request.query, ['user'], 'query');
      const user = v.optional(q, 'user', asUser);
      return { invites: peer.invites(user).map(inviteView) };
    },
  });

  route('/edus', {
    GET: async (request) => {
      const q = v.fields(request.query, ['type', 'since', 'limit'], 'query');
      const type = v.optional(q, 'type', v.text());
      const since = v.optional(q, 'since', v.integerText(0, Number.MAX_SAFE_INTEGER));
      const limit = v.optional(q, 'limit', v.integerText(1, MAX_PAGE)) ?? MAX_PAGE;
      const edus = peer.transactions.edus({ ...(type !== undefined ? { type } : {}), ...(since !== undefined ? { since } : {}) });
      const page = edus.slice(0, limit);
      return { edus: page.map(eduView), ...(edus.length > limit ? { next: page.at(-1)!.seq } : {}) };
    },
  });

  route(
    '/build-event',
    {
      POST: async (request) => {
        const f = v.fields(request.body, ['room_id', 'sender', 'type', 'state_key', 'content', 'prev_events', 'auth_events', 'depth', 'origin_server_ts', 'redacts', 'room_version', 'extra', 'signature', 'hash']);
        const anyInteger = v.integer(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
        const o = {
          roomId: v.required(f, 'room_id', v.roomId),
          sender: v.required(f, 'sender', v.userId),
          type: v.required(f, 'type', v.text()),
          stateKey: v.optional(f, 'state_key', v.text()),
          content: v.optional(f, 'content', v.jsonObject),
          prevEvents: v.optional(f, 'prev_events', v.list(v.eventId, 100)),
          authEvents: v.optional(f, 'auth_events', v.list(v.eventId, 100)),
          depth: v.optional(f, 'depth', anyInteger),
          originServerTs: v.optional(f, 'origin_server_ts', anyInteger),
          redacts: v.optional(f, 'redacts', v.eventId),
          roomVersion: v.optional(f, 'room_version', v.text({ max: 32 })),
          extra: v.optional(f, 'extra', v.jsonObject),
          signature: v.optional(f, 'signature', v.oneOf(['valid', 'bad', 'none'] as const)),
          hash: v.optional(f, 'hash', v.oneOf(['valid', 'bad'] as const)),
        };
        const built = peer.buildEvent(Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as unknown as Parameters<RoomPeer['buildEvent']>[0]);
        return { event_id: built.eventId, pdu: built.pdu };
      },
    },
    LARGE_BODY_LIMIT,
  );

  const anyJson: v.Reader<unknown> = (x) => x;
  route(
    '/send-transaction',
    {
      POST: async (request) => {
        const f = v.fields(request.body, ['destination', 'pdus', 'edus', 'txn_id']);
        const txnId = v.optional(f, 'txn_id', v.text());
        const answer = await deps.federation.sendTransaction(v.required(f, 'destination', v.serverName), {
          pdus: v.optional(f, 'pdus', v.list(anyJson, 1000)) ?? [],
          edus: v.optional(f, 'edus', v.list(anyJson, 1000)) ?? [],
          ...(txnId !== undefined ? { txnId } : {}),
        });
        return answer;
      },
    },
    LARGE_BODY_LIMIT,
  );

  route(
    '/federation-request',
    {
      POST: async (request) => {
        const f = v.fields(request.body, ['destination', 'method', 'path', 'body']);
        const path = v.required(f, 'path', v.text({ max: 8192, pattern: /^\/[^\s]*$/, describe: 'a path starting with "/" (query string included, URL-encoded)' }));
        const method = v.optional(f, 'method', v.oneOf(['GET', 'PUT', 'POST', 'DELETE'] as const)) ?? 'GET';
        return deps.federation.request(v.required(f, 'destination', v.serverName), method, path, f.body);
      },
    },
    LARGE_BODY_LIMIT,
  );

  const ruleSpec = (body: unknown): RuleSpec => {
    const f = v.fields(body, ['endpoint', 'match', 'reject', 'delay_ms', 'respond', 'times']);
    const ruleMatch = v.nested(['room_id', 'origin', 'user_id', 'event_id'], (m) => {
      const r = { roomId: v.optional(m, 'room_id', v.roomId), origin: v.optional(m, 'origin', v.serverName), userId: v.optional(m, 'user_id', v.userId), eventId: v.optional(m, 'event_id', v.eventId) };
      return Object.fromEntries(Object.entries(r).filter(([, x]) => x !== undefined));
    });
    const reject = v.nested(['status', 'errcode', 'error'], (m) => {
      const error = v.optional(m, 'error', v.text({ max: 1000 }));
      return {
        status: v.required(m, 'status', v.integer(400, 599)),
        errcode: v.required(m, 'errcode', v.text({ max: 128, pattern: /^[A-Za-z0-9_.]+$/, describe: 'an error code such as M_FORBIDDEN' })),
        ...(error !== undefined ? { error } : {}),
      };
    });
    const spec: RuleSpec = { endpoint: v.required(f, 'endpoint', v.oneOf([...ENDPOINTS, '*'] as const)) };
    const m = v.optional(f, 'match', ruleMatch);
    if (m !== undefined) spec.match = m;
    const r = v.optional(f, 'reject', reject);
    if (r !== undefined) spec.reject = r;
    const delay = v.optional(f, 'delay_ms', v.integer(0, 60_000));
    if (delay !== undefined) spec.delayMs = delay;
    if (f.respond !== undefined) spec.respond = f.respond;
    const times = v.optional(f, 'times', v.integer(1, 1_000_000));
    if (times !== undefined) spec.times = times;
    if (!spec.reject && spec.delayMs === undefined && spec.respond === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', 'a rule needs reject, delay_ms or respond');
    if (spec.reject && spec.respond !== undefined) throw new MatrixError(400, 'M_INVALID_PARAM', 'a rule either rejects or responds, not both');
    return spec;
  };
  route('/hooks/rules', {
    GET: async () => ({ rules: rules.list().map(ruleView) }),
    POST: async (request) => {
      return ruleView(rules.add(ruleSpec(request.body)));
    },
    DELETE: async () => ({ removed: rules.clear() }),
  });
  route('/hooks/rules/:id', {
    DELETE: async (request) => {
      const id = param(request, 'id', v.text({ max: 32 }));
      if (!rules.remove(id)) throw new MatrixError(404, 'M_NOT_FOUND', `No rule ${id}`);
      return {};
    },
  });
  route('/hooks/requests', {
    GET: async (request) => {
      const q = v.fields(request.query, ['since', 'endpoint', 'limit'], 'query');
      const since = v.optional(q, 'since', v.integerText(0, Number.MAX_SAFE_INTEGER));
      const endpoint = v.optional(q, 'endpoint', v.oneOf(ENDPOINTS));
      const limit = v.optional(q, 'limit', v.integerText(1, MAX_PAGE)) ?? MAX_PAGE;
      const list = rules.requests({ ...(since !== undefined ? { since } : {}), ...(endpoint !== undefined ? { endpoint } : {}), limit });
      return { requests: list.map(requestView) };
    },
  });
}
