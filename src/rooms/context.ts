// What every part of the room peer is handed: the identity, the store, the
// outbound queue, the keys, the federation client, the clock, the hooks.
// Built once by peer.ts; no part builds its own.
import type { Logger } from 'pino';
import type { RoomEvent } from '../matrix/events/types.js';
import type { EventKeySource } from './event-keys.js';
import type { PeerHooks } from './hooks.js';
import type { PeerIdentity } from './identity.js';
import type { RoomLimits } from './limits.js';
import type { KeyedLock } from './locks.js';
import type { OutboundQueue } from './outbound-queue.js';
import type { RoomData } from './room-data.js';
import type { EventStatus } from './store.js';

/** One outbound federation request (the federation client, signed with X-Matrix). */
export type FederationRequest = (
  destination: string,
  method: string,
  path: string,
  opts?: { body?: unknown; timeoutMs?: number; maxBytes?: number; signal?: AbortSignal },
) => Promise<{ status: number; body: unknown }>;

export interface RoomContext {
  readonly identity: PeerIdentity;
  readonly data: RoomData;
  readonly queue: OutboundQueue;
  readonly keys: EventKeySource;
  readonly request: FederationRequest;
  readonly logger: Logger;
  readonly now: () => number;
  /** Random opaque text for room IDs and v1/v2 event IDs. */
  readonly randomId: () => string;
  readonly roomLock: KeyedLock;
  readonly hooks: PeerHooks;
  /** Bounds on the work done for other servers. */
  readonly limits: RoomLimits;
  /** Called after each event is stored in a room (after commit): wakes waitForEvent. */
  readonly notify: (event: RoomEvent, status: EventStatus) => void;
}
