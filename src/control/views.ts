// What the control API answers, in the snake_case field names of Matrix
// JSON, so an answer reads like the events and errors a homeserver sends.
import type { TimelineEvent, StateEntry } from '../rooms/peer.js';
import type { InviteRecord, ReceivedEdu } from '../rooms/store.js';
import type { HookRule, ObservedRequest } from './hook-rules.js';

export function eventView(e: TimelineEvent): Record<string, unknown> {
  return {
    event_id: e.eventId,
    room_id: e.roomId,
    type: e.type,
    sender: e.sender,
    ...(e.stateKey !== undefined ? { state_key: e.stateKey } : {}),
    content: e.content,
    origin_server_ts: e.originServerTs,
    depth: e.depth,
    status: e.status,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    pdu: e.pdu,
  };
}

export function stateView(s: StateEntry): Record<string, unknown> {
  return { type: s.type, state_key: s.stateKey, event_id: s.eventId, sender: s.sender, content: s.content };
}

export function inviteView(i: InviteRecord): Record<string, unknown> {
  return { room_id: i.roomId, room_version: i.version, event: i.event, invite_room_state: i.inviteRoomState, received_ts: i.receivedTs };
}

export function eduView(e: ReceivedEdu): Record<string, unknown> {
  return { seq: e.seq, origin: e.origin, edu: e.edu, received_ts: e.receivedTs };
}

export function ruleView(r: HookRule): Record<string, unknown> {
  const m = r.match ?? {};
  const match = {
    ...(m.roomId !== undefined ? { room_id: m.roomId } : {}),
    ...(m.origin !== undefined ? { origin: m.origin } : {}),
    ...(m.userId !== undefined ? { user_id: m.userId } : {}),
    ...(m.eventId !== undefined ? { event_id: m.eventId } : {}),
  };
  return {
    rule_id: r.id,
    endpoint: r.endpoint,
    match,
    ...(r.reject ? { reject: r.reject } : {}),
    ...(r.delayMs !== undefined ? { delay_ms: r.delayMs } : {}),
    ...(r.respond !== undefined ? { respond: r.respond } : {}),
    ...(r.times !== undefined ? { times: r.times } : {}),
    hits: r.hits,
  };
}

const snakeCase = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function requestView(r: ObservedRequest): Record<string, unknown> {
  const params = Object.fromEntries(Object.entries(r.params).map(([k, v]) => [snakeCase(k), v]));
  return { seq: r.seq, ts: r.ts, endpoint: r.endpoint, origin: r.origin, params, query: r.query, ...(r.ruleId !== undefined ? { rule_id: r.ruleId } : {}) };
}
