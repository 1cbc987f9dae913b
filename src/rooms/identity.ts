// Who a room peer is: a value handed to every part of it, never a module
// singleton, so one process can host many identities (a later fleet mode).
import type { SigningKey } from '../matrix/signing-key.js';
import type { TestUser } from '../config/types.js';

export interface PeerIdentity {
  readonly serverName: string;
  /** The key events and requests are signed with. */
  readonly signingKey: SigningKey;
  /** Local users (the config's `test_users`): user ID -> profile. */
  readonly users: ReadonlyMap<string, TestUser>;
}

export function peerIdentity(serverName: string, signingKey: SigningKey, users: Readonly<Record<string, TestUser>>): PeerIdentity {
  return Object.freeze({ serverName, signingKey, users: new Map(Object.entries(users)) });
}

/** The server part of a user ID, room alias or v1/v2 event ID (`@alice:example.org` -> `example.org`). */
export function domainOf(id: string): string {
  const colon = id.indexOf(':');
  return colon < 0 ? '' : id.slice(colon + 1);
}
