// The bounds on the work the room peer does for other servers, as one value:
// fixed defaults (docs/OPERATIONS.md, "Bounds on work done for strangers"),
// which tests may tighten to measure them in seconds rather than minutes.

export interface RoomLimits {
  /** Wall time one received transaction may spend fetching what its PDUs lack (auth chains, missing prev events, the state at gaps). */
  readonly fetchTimeMs: number;
  /** Requests one received transaction may make for that. */
  readonly fetchRequests: number;
  /** Events one received transaction may take from their answers. */
  readonly fetchEvents: number;
  /** History fetched after a remote join (backfill.ts): events asked for and kept (0: none), answer size, wall time. */
  readonly backfillEvents: number;
  readonly backfillBytes: number;
  readonly backfillTimeMs: number;
  /** Received transaction IDs remembered (for idempotency) per origin, over all origins, and for how long. */
  readonly transactionsPerOrigin: number;
  readonly transactionsKept: number;
  readonly transactionTtlMs: number;
  /** Received EDUs recorded per origin and over all; larger EDUs (bytes of JSON) are not recorded. */
  readonly edusPerOrigin: number;
  readonly edusKept: number;
  readonly eduBytes: number;
  /** Invites held per inviting server and over all. */
  readonly invitesPerOrigin: number;
  readonly invitesKept: number;
  /** Room requests of one origin answered at once, waiting, and over all origins at once (beyond: 429 M_LIMIT_EXCEEDED). */
  readonly requestsPerOrigin: number;
  readonly requestsWaitingPerOrigin: number;
  readonly requestsTotal: number;
  /** Transactions of one origin waiting behind the one being processed (the spec allows one in flight). */
  readonly transactionsWaitingPerOrigin: number;
}

export const DEFAULT_ROOM_LIMITS: RoomLimits = Object.freeze({
  fetchTimeMs: 30_000,
  fetchRequests: 1_000,
  fetchEvents: 2_000,
  backfillEvents: 100,
  backfillBytes: 4 << 20,
  backfillTimeMs: 15_000,
  transactionsPerOrigin: 1_000,
  transactionsKept: 100_000,
  transactionTtlMs: 24 * 3600_000,
  edusPerOrigin: 1_000,
  edusKept: 10_000,
  eduBytes: 65_536,
  invitesPerOrigin: 100,
  invitesKept: 1_000,
  requestsPerOrigin: 3,
  requestsWaitingPerOrigin: 50,
  requestsTotal: 64,
  transactionsWaitingPerOrigin: 2,
});

export function roomLimits(overrides: Partial<RoomLimits> = {}): RoomLimits {
  return Object.freeze({ ...DEFAULT_ROOM_LIMITS, ...overrides });
}
