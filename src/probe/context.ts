// What a check gets to work with: the target, the probe's identities and
// keys, a way to send requests, the memo of steps several checks share, and
// what the probe's listeners and DNS server have seen so far.
import type { Resolution } from '../federation/resolver.js';
import type { SigningKey } from '../matrix/signing-key.js';
import type { RoomPeer } from '../rooms/peer.js';
import type { ClientApi } from './client-api.js';
import type { HeaderKeys } from './auth-headers.js';
import type { ProbeDnsServer } from './dns-server.js';
import type { InboundLog } from './observer.js';
import type { ProbeRequest, SendResult } from './sender.js';
import type { CheckInfo, Outcome, SpecRef } from './types.js';

export interface UntrustedIdentity {
  /** `host:port` of the probe, served with a certificate no one trusts. */
  origin: string;
  key: SigningKey;
  inbound: InboundLog;
}

export interface ProbeContext {
  target: string;
  /** The probe's server name. */
  origin: string;
  keys: HeaderKeys;
  send(req: ProbeRequest): Promise<SendResult>;
  /** Runs `compute` once per name for the whole run; later callers get the same promise. */
  shared<T>(name: string, compute: () => Promise<T>): Promise<T>;
  now(): number;
  /** What reached the probe's own listeners. */
  inbound: InboundLog;
  /** The probe serves TLS, and on port 443 (where a well-known request lands). */
  listeners: { tls: boolean; port443: boolean };
  untrusted?: UntrustedIdentity;
  /** Why there is no untrusted identity, when there is none. */
  untrustedMissing?: string;
  dns: ProbeDnsServer | null;
  targetResolution(): Promise<Resolution | Error>;
  /** The probe's own name, resolved as the target would resolve it. */
  ownResolution(): Promise<Resolution | Error>;
  /** --room: a room on the target the probe may join. */
  room?: string;
  /** Names this run's throwaway names (keys, rooms, transaction IDs). */
  runTag: string;
  /** The room peer of the probe's identity, with a store made for this run. */
  rooms: RoomPeer;
  /** The target's client-server API, when an access token was given. */
  client?: ClientApi;
  /** How long to wait for the target to show an event the probe sent. */
  roomWaitMs: number;
  /** Runs `fn` after the last check, while the probe's servers still listen (leaving rooms). */
  atEnd(fn: () => Promise<void>): void;
}

export interface CheckDefinition extends CheckInfo {
  run(ctx: ProbeContext): Promise<Outcome>;
}

const SPEC = 'https://spec.matrix.org/latest';

export const SPEC_REFS = {
  publishingKeys: { section: 'Server-Server API, Retrieving server keys: Publishing Keys', url: `${SPEC}/server-server-api/#publishing-keys` },
  signingJson: { section: 'Appendices, Signing JSON', url: `${SPEC}/appendices/#signing-json` },
  version: { section: 'Server-Server API, GET /_matrix/federation/v1/version', url: `${SPEC}/server-server-api/#get_matrixfederationv1version` },
  requestAuth: { section: 'Server-Server API, Authentication: Request Authentication', url: `${SPEC}/server-server-api/#request-authentication` },
  errorCodes: { section: 'Client-Server API, Standard error response: Common error codes (the Server-Server API uses the same)', url: `${SPEC}/client-server-api/#common-error-codes` },
  resolving: { section: 'Server-Server API, Server discovery: Resolving server names', url: `${SPEC}/server-server-api/#resolving-server-names` },
  tls: { section: 'Server-Server API, TLS', url: `${SPEC}/server-server-api/#tls` },
  retrievingKeys: { section: 'Server-Server API, Retrieving server keys', url: `${SPEC}/server-server-api/#retrieving-server-keys` },
  pduChecks: { section: 'Server-Server API, Checks performed on receipt of a PDU', url: `${SPEC}/server-server-api/#checks-performed-on-receipt-of-a-pdu` },
  transactions: { section: 'Server-Server API, Transactions', url: `${SPEC}/server-server-api/#transactions` },
} as const satisfies Record<string, SpecRef>;
