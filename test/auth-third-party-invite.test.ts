// Third-party invites: the identity server's signature over `signed`, made by
// python3-signedjson (what Sydent signs with), must verify with a public key
// of the room's m.room.third_party_invite; every other step of the rule has a
// case of its own.
import t from 'tap';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import { encodeBase64 } from '../src/matrix/base64.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { MAX_THIRD_PARTY_SIGNATURE_CHECKS } from '../src/matrix/auth/index.js';
import { pySign } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, TestRoom } from './harness/room-events.js';

const identityKey = generateSigningKey('is1');
const otherKey = generateSigningKey('is2');
const IS = 'id.example';

function signAsIdentityServer(values: JsonObject[], key = identityKey): JsonObject[] {
  return pySign(values, { seed: encodeBase64(key.seed), version: key.version, serverName: IS });
}

interface Setup {
  inviteContent?: JsonObject;
  inviteSender?: string;
  signed?: JsonObject | null;
  target?: string;
  thirdPartyInvite?: JsonObject;
  before?: (room: TestRoom) => void;
}

t.test('third-party invites', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const [signed] = signAsIdentityServer([{ mxid: BOB, token: 'tok', sender: ALICE }]);
  const [signedForCharlie] = signAsIdentityServer([{ mxid: CHARLIE, token: 'tok', sender: ALICE }]);
  const [signedByOther] = signAsIdentityServer([{ mxid: BOB, token: 'tok', sender: ALICE }], otherKey);
  const [signedNoToken] = signAsIdentityServer([{ mxid: BOB, sender: ALICE }]);
  const keys = { public_key: identityKey.publicKeyBase64, public_keys: [{ public_key: identityKey.publicKeyBase64, key_validity_url: 'https://id.example/isvalid' }] };

  const check = (version: (typeof ALL_VERSIONS)[number], s: Setup) => {
    const room = new TestRoom(version, { members: [CHARLIE], powerLevels: { users: { [ALICE]: 100 } } });
    s.before?.(room);
    room.add({ type: 'm.room.third_party_invite', stateKey: 'tok', sender: s.inviteSender ?? ALICE, content: { display_name: 'b…@example.org', ...(s.inviteContent ?? keys) } });
    const thirdPartyInvite = s.thirdPartyInvite ?? (s.signed === null ? { display_name: 'b…' } : { display_name: 'b…', signed: s.signed ?? signed! });
    return room.check({ type: 'm.room.member', stateKey: s.target ?? BOB, sender: ALICE, content: { membership: 'invite', third_party_invite: thirdPartyInvite } });
  };

  const cases: Array<[string, Setup]> = [
    ['allow', {}],
    ['allow', { inviteContent: { public_key: identityKey.publicKeyBase64 } }],
    ['allow', { inviteContent: { public_keys: [{ public_key: otherKey.publicKeyBase64 }, { public_key: identityKey.publicKeyBase64 }] } }],
    ['allow', { inviteContent: { public_key: 'not base64!', public_keys: [{ public_key: identityKey.publicKeyBase64 }] } }],
    ['member.invite.third_party.banned', { before: (room) => room.member(ALICE, BOB, 'ban') }],
    ['member.invite.third_party.no_signed', { signed: null }],
    ['member.invite.third_party.no_signed', { thirdPartyInvite: { signed: 'x' } }],
    ['member.invite.third_party.no_signed', { thirdPartyInvite: 'x' as unknown as JsonObject }],
    ['member.invite.third_party.signed_fields', { signed: signedNoToken! }],
    ['member.invite.third_party.mxid', { signed: signedForCharlie! }],
    ['member.invite.third_party.no_invite_event', { signed: { ...signed!, token: 'other' } }],
    ['member.invite.third_party.sender', { inviteSender: CHARLIE }],
    ['member.invite.third_party.signature', { signed: signedByOther! }],
    ['member.invite.third_party.signature', { signed: { ...signed!, extra: 'tampered after signing' } }],
    ['member.invite.third_party.signature', { signed: { mxid: BOB, token: 'tok', sender: ALICE } }],
    ['member.invite.third_party.signature', { signed: { ...signed!, signatures: 'none' } }],
    ['member.invite.third_party.signature', { signed: { ...signed!, signatures: { [IS]: 'x' } } }],
    ['member.invite.third_party.signature', { signed: { ...signed!, signatures: { [IS]: { 'curve25519:is1': Object.values((signed!.signatures as JsonObject)[IS] as JsonObject)[0]! } } } }],
    ['member.invite.third_party.signature', { inviteContent: { public_key: 'not base64!' } }],
    ['member.invite.third_party.signature', { inviteContent: { public_keys: [{ nothing: 1 }, 'x'] } }],
    ['member.invite.third_party.signature', { inviteContent: {} }],
  ];
  for (const version of ALL_VERSIONS) {
    for (const [expect, setup] of cases) {
      const result = check(version, setup);
      if (expect === 'allow') t.same(result, { ok: true }, `v${version.id} allow`);
      else t.match(result, { ok: false, rule: expect }, `v${version.id} ${expect}`);
    }
  }
});

t.test('third-party invites: at most MAX_THIRD_PARTY_SIGNATURE_CHECKS signatures are tried', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const [signed] = signAsIdentityServer([{ mxid: BOB, token: 'tok', sender: ALICE }]);
  const [wrong] = signAsIdentityServer([{ mxid: BOB, token: 'tok', sender: ALICE }], otherKey);
  const real = (signed!.signatures as Record<string, Record<string, string>>)[IS]!;
  const wrongSignature = (wrong!.signatures as Record<string, Record<string, string>>)[IS]![otherKey.keyId]!;
  const withBogusFirst = (n: number): JsonObject => {
    const bogus: Record<string, string> = {};
    for (let i = 0; i < n; i++) bogus[`ed25519:bogus${i}`] = wrongSignature;
    return { ...signed!, signatures: { [IS]: { ...bogus, ...real } } };
  };
  for (const [bogus, expect] of [
    [MAX_THIRD_PARTY_SIGNATURE_CHECKS - 1, true],
    [MAX_THIRD_PARTY_SIGNATURE_CHECKS, false],
    [5000, false],
  ] as const) {
    const room = new TestRoom('10');
    room.add({ type: 'm.room.third_party_invite', stateKey: 'tok', sender: ALICE, content: { public_key: identityKey.publicKeyBase64 } });
    const result = room.check({ type: 'm.room.member', stateKey: BOB, sender: ALICE, content: { membership: 'invite', third_party_invite: { signed: withBogusFirst(bogus) } } });
    t.equal(result.ok, expect, `${bogus} wrong signatures before the right one: ${expect ? 'allowed' : 'rejected'}`);
  }
});
