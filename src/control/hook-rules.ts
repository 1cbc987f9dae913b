// Hooks in a form HTTP can carry: rules such as "answer make_join for room X
// with 403 M_FORBIDDEN" or "delay /send by 500 ms, twice", set and cleared
// through the control API, and a record of the federation requests the room
// peer received, so a test in any language can see what the other server
// asked. The rules are one RequestHook, installed as the peer's
// `controlRules`, consulted before the hooks a library user assigns.
import { MatrixError } from '../matrix/errors.js';
import type { FederationEndpoint, HookDecision, HookRequest, RequestHook } from '../rooms/hooks.js';

// A record, so that a new endpoint in hooks.ts fails to compile until listed here.
const ENDPOINT_FLAGS: Record<FederationEndpoint, true> = {
  send: true,
  make_join: true,
  send_join: true,
  make_leave: true,
  send_leave: true,
  invite: true,
  event: true,
  state: true,
  state_ids: true,
  event_auth: true,
  backfill: true,
  get_missing_events: true,
  query_directory: true,
  user_devices: true,
  user_keys_query: true,
};
export const ENDPOINTS = Object.keys(ENDPOINT_FLAGS) as FederationEndpoint[];

export interface RuleMatch {
  /** The room of the request: its path's room, or for /send a PDU's `room_id`. */
  roomId?: string;
  origin?: string;
  userId?: string;
  eventId?: string;
}

export interface RuleAction {
  reject?: { status: number; errcode: string; error?: string };
  delayMs?: number;
  /** Answered with status 200 instead of the peer's own answer. */
  respond?: unknown;
}

export interface RuleSpec extends RuleAction {
  /** An endpoint, or '*' for every one. */
  endpoint: FederationEndpoint | '*';
  match?: RuleMatch;
  /** How many requests it applies to before it removes itself; absent: until removed. */
  times?: number;
}

export interface HookRule extends RuleSpec {
  readonly id: string;
  /** Requests it has applied to. */
  hits: number;
}

export interface ObservedRequest {
  readonly seq: number;
  readonly ts: number;
  readonly endpoint: FederationEndpoint;
  readonly origin: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, unknown>>;
  /** The rule that decided its answer, if one did. */
  ruleId?: string;
}

export interface HookRules {
  add(spec: RuleSpec): HookRule;
  remove(id: string): boolean;
  /** Removes every rule; the number removed. */
  clear(): number;
  list(): HookRule[];
  /** Requests received, oldest first, after `since` (a `seq`). */
  requests(opts?: { since?: number; endpoint?: FederationEndpoint; limit?: number }): ObservedRequest[];
  readonly hook: RequestHook;
}

export const MAX_RULES = 100;
export const MAX_OBSERVED = 1000;

function roomsOf(request: HookRequest): string[] {
  if (request.params.roomId !== undefined) return [request.params.roomId];
  const pdus = (request.body as { pdus?: unknown } | null | undefined)?.pdus;
  if (!Array.isArray(pdus)) return [];
  return pdus.flatMap((p) => {
    const room = (p as { room_id?: unknown } | null)?.room_id;
    return typeof room === 'string' ? [room] : [];
  });
}

function matches(rule: HookRule, request: HookRequest): boolean {
  if (rule.endpoint !== '*' && rule.endpoint !== request.endpoint) return false;
  const m = rule.match ?? {};
  if (m.origin !== undefined && m.origin !== request.origin) return false;
  if (m.userId !== undefined && m.userId !== request.params.userId) return false;
  if (m.eventId !== undefined && m.eventId !== request.params.eventId) return false;
  return m.roomId === undefined || roomsOf(request).includes(m.roomId);
}

export function createHookRules(opts: { now?: () => number; maxObserved?: number } = {}): HookRules {
  const now = opts.now ?? Date.now;
  const maxObserved = opts.maxObserved ?? MAX_OBSERVED;
  const rules: HookRule[] = [];
  let observed: ObservedRequest[] = [];
  let nextRule = 1;
  let nextSeq = 1;

  const remove = (id: string): boolean => {
    const i = rules.findIndex((r) => r.id === id);
    if (i >= 0) rules.splice(i, 1);
    return i >= 0;
  };

  const hook: RequestHook = (request) => {
    const record: ObservedRequest = { seq: nextSeq++, ts: now(), endpoint: request.endpoint, origin: request.origin, params: { ...request.params }, query: { ...request.query } };
    observed.push(record);
    // Dropping the oldest half at a time keeps the cost per request constant.
    if (observed.length >= 2 * maxObserved) observed = observed.slice(-maxObserved);
    const rule = rules.find((r) => matches(r, request));
    if (!rule) return undefined;
    rule.hits++;
    record.ruleId = rule.id;
    if (rule.times !== undefined && rule.hits >= rule.times) remove(rule.id);
    const decision: HookDecision = {};
    if (rule.reject) decision.reject = rule.reject;
    if (rule.delayMs !== undefined) decision.delayMs = rule.delayMs;
    if (rule.respond !== undefined) decision.respond = rule.respond;
    return decision;
  };

  return {
    add(spec) {
      if (rules.length >= MAX_RULES) throw new MatrixError(400, 'M_INVALID_PARAM', `at most ${MAX_RULES} rules: remove some first`);
      const rule: HookRule = { ...spec, id: `r${nextRule++}`, hits: 0 };
      rules.push(rule);
      return rule;
    },
    remove,
    clear() {
      const n = rules.length;
      rules.length = 0;
      return n;
    },
    list: () => rules.map((r) => ({ ...r })),
    requests(o = {}) {
      const since = o.since ?? 0;
      const out: ObservedRequest[] = [];
      for (const r of observed.slice(-maxObserved)) {
        if (r.seq <= since || (o.endpoint !== undefined && r.endpoint !== o.endpoint)) continue;
        out.push(r);
        if (o.limit !== undefined && out.length >= o.limit) break;
      }
      return out;
    },
    hook,
  };
}
