// Hooks let a test observe what the peer receives and override what it
// answers: reject a join, delay an answer, answer something else. A hook
// returning nothing lets the peer answer as it would.
import type { RoomEvent } from '../matrix/events/types.js';
import type { EventStatus } from './store.js';

/** The federation endpoints the room peer serves, as hooks name them. */
export type FederationEndpoint =
  | 'send'
  | 'make_join'
  | 'send_join'
  | 'make_leave'
  | 'send_leave'
  | 'invite'
  | 'event'
  | 'state'
  | 'state_ids'
  | 'event_auth'
  | 'backfill'
  | 'get_missing_events'
  | 'query_directory'
  | 'user_devices'
  | 'user_keys_query';

export interface HookRequest {
  endpoint: FederationEndpoint;
  /** The authenticated origin server. */
  origin: string;
  /** Path parameters (roomId, eventId, userId, txnId, ...). */
  params: Readonly<Record<string, string>>;
  query: Readonly<Record<string, unknown>>;
  body: unknown;
}

export interface HookDecision {
  /** Answer this Matrix error instead. */
  reject?: { status: number; errcode: string; error?: string };
  /** Wait this long before answering (or rejecting). */
  delayMs?: number;
  /** Answer 200 with this body instead of the peer's own answer (nothing is processed). */
  respond?: unknown;
}

export type RequestHook = (request: HookRequest) => HookDecision | void | undefined | Promise<HookDecision | void | undefined>;

/** Assign these on `peer.hooks`; each may be changed or removed at any time. */
export interface PeerHooks {
  /**
   * The rules set over the control API (src/control/hook-rules.ts), consulted
   * before the others so that they and hooks assigned from code work together.
   */
  controlRules?: RequestHook;
  /** Every federation request of the room peer, before the endpoint's own hook. */
  onRequest?: RequestHook;
  onSend?: RequestHook;
  onMakeJoin?: RequestHook;
  onSendJoin?: RequestHook;
  onMakeLeave?: RequestHook;
  onSendLeave?: RequestHook;
  onInvite?: RequestHook;
  /** Every event stored in a room (received or local), with what became of it. */
  onEvent?: (event: RoomEvent, status: EventStatus) => void;
  /** Every EDU received. */
  onEdu?: (origin: string, edu: Record<string, unknown>) => void;
}

const ENDPOINT_HOOK: Partial<Record<FederationEndpoint, keyof PeerHooks>> = {
  send: 'onSend',
  make_join: 'onMakeJoin',
  send_join: 'onSendJoin',
  make_leave: 'onMakeLeave',
  send_leave: 'onSendLeave',
  invite: 'onInvite',
};

/** The decision of the hooks for a request: controlRules, onRequest, then the endpoint's own; the first that decides wins. */
export async function consultHooks(hooks: PeerHooks, request: HookRequest): Promise<HookDecision | undefined> {
  const named = ENDPOINT_HOOK[request.endpoint];
  for (const hook of [hooks.controlRules, hooks.onRequest, named ? (hooks[named] as RequestHook | undefined) : undefined]) {
    if (!hook) continue;
    const decision = await hook(request);
    if (decision && (decision.reject || decision.delayMs !== undefined || decision.respond !== undefined)) return decision;
  }
  return undefined;
}
