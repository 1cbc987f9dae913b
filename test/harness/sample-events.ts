// Well-formed events of any room version for tests that then change them:
// built with buildPdu, signed with signPdu by the sender's server.
import { createHash } from 'node:crypto';
import type { SigningKey } from '../../src/matrix/signing-key.js';
import { buildPdu, signPdu, type EventFields, type EventRef, type Pdu, type RoomVersion } from '../../src/matrix/events/index.js';

/** A reference of the version's shape, derived from `seed` (not the ID of a real event). */
export function sampleRef(version: RoomVersion, seed: string): EventRef {
  const hash = createHash('sha256').update(seed).digest();
  if (version.eventFormat === 1) return { eventId: `$${seed}:origin.test`, sha256: hash.toString('base64').replace(/=+$/, '') };
  return `$${version.eventFormat === 2 ? hash.toString('base64').replace(/=+$/, '') : hash.toString('base64url')}`;
}

export function sampleFields(version: RoomVersion, overrides: Partial<EventFields> = {}): EventFields {
  return {
    roomId: '!room:origin.test',
    sender: '@alice:origin.test',
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello' },
    prevEvents: [sampleRef(version, 'prev1'), sampleRef(version, 'prev2')],
    authEvents: [sampleRef(version, 'create'), sampleRef(version, 'member')],
    depth: 7,
    originServerTs: 1_700_000_000_000,
    eventId: '$sample:origin.test',
    ...overrides,
  };
}

/** A signed event of `version` (sender @alice:origin.test unless overridden). */
export function sampleEvent(version: RoomVersion, key: SigningKey, overrides: Partial<EventFields> = {}, serverName = 'origin.test'): Pdu {
  return signPdu(buildPdu(sampleFields(version, overrides), version), version, serverName, key);
}
