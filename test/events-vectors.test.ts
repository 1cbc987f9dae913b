// The spec's event signing vectors (appendix "Signing Events", copied in
// test/fixtures/spec-vectors.json) and the redaction rules of every room
// version, case by case.
import t from 'tap';
import { vectors } from './harness/vectors.js';
import { signingKeyFromSeed } from '../src/matrix/signing-key.js';
import { decodeBase64 } from '../src/matrix/base64.js';
import { verifyJsonSignature } from '../src/matrix/signing.js';
import {
  checkContentHash,
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  redactPdu,
  roomVersion,
  signPdu,
  supportedRoomVersions,
  type Pdu,
  type RoomVersion,
} from '../src/matrix/events/index.js';

const V = (id: string): RoomVersion => roomVersion(id)!;

t.test('spec event signing vectors: content hash, redaction of v1-10, signature, whole event', async (t) => {
  t.equal(vectors.event_signing.length, 2);
  for (const v of vectors.event_signing) {
    const key = signingKeyFromSeed(decodeBase64(v.seed_base64), v.key_id.split(':')[1]);
    t.equal(computeContentHash(v.input), v.expected_content_hash_sha256, `${v.name}: content hash`);
    for (const id of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']) {
      const signed = signPdu(v.input, V(id), v.server_name, key);
      t.same(signed, v.expected_output, `${v.name}: whole event, room version ${id}`);
      t.ok(checkContentHash(signed), `${v.name}: hash checks`);
      t.same(verifyJsonSignature(redactPdu(v.expected_output, V(id)), v.server_name, v.key_id, key.publicKey), { ok: true }, `${v.name} v${id}: signedjson-style check of the redacted form`);
    }
    // The appendix's events keep top-level `origin` in what is signed; v11 drops it, so the signature differs there.
    const v11 = signPdu(v.input, V('11'), v.server_name, key) as { signatures: Record<string, Record<string, string>> };
    t.not(v11.signatures[v.server_name]![v.key_id], v.expected_signature, `${v.name}: v11 signs another form`);
    t.same(verifyJsonSignature(redactPdu(v11 as Pdu, V('11')), v.server_name, v.key_id, key.publicKey), { ok: true });
  }
});

t.test('signing keeps other servers\' signatures and other hash algorithms, never changes its input', async (t) => {
  const v = vectors.event_signing[0];
  const key = signingKeyFromSeed(decodeBase64(v.seed_base64), '1');
  const input = { ...v.input, hashes: { sha512: 'x' }, signatures: { other: { 'ed25519:o': 'sig' }, domain: { 'ed25519:old': 'kept' } } };
  const before = JSON.stringify(input);
  const signed = signPdu(input, V('10'), 'domain', key) as { hashes: object; signatures: object };
  t.equal(JSON.stringify(input), before, 'input untouched');
  t.same(signed.hashes, { sha512: 'x', sha256: v.expected_content_hash_sha256 });
  // sha512 is signed too (hashes survive redaction), so the signature is not the vector's.
  const sig = (signed.signatures as Record<string, Record<string, string>>).domain!['ed25519:1']!;
  t.same(signed.signatures, { other: { 'ed25519:o': 'sig' }, domain: { 'ed25519:old': 'kept', 'ed25519:1': sig } });
  t.not(sig, v.expected_signature);
  t.same(verifyJsonSignature(redactPdu(signed as Pdu, V('10')), 'domain', 'ed25519:1', key.publicKey), { ok: true });
});

t.test('checkContentHash: present, decodable and equal', async (t) => {
  const v = vectors.event_signing[1];
  const ok = v.expected_output as Pdu;
  t.ok(checkContentHash(ok));
  t.ok(checkContentHash({ ...ok, hashes: { sha256: `${(ok.hashes as { sha256: string }).sha256}=` } }), 'padded base64 accepted');
  t.notOk(checkContentHash({ ...ok, content: { body: 'changed' } }), 'changed content');
  t.notOk(checkContentHash({ ...ok, hashes: {} }), 'no sha256');
  t.notOk(checkContentHash({ ...ok, hashes: 'x' }), 'hashes not an object');
  t.notOk(checkContentHash({ ...ok, hashes: { sha256: '!!!' } }), 'not base64');
  t.ok(checkContentHash({ ...ok, unsigned: { age: 1 }, age_ts: 5, outlier: true, destinations: ['x'] }), 'unsigned and the legacy keys are not hashed');
});

t.test('event IDs: v1/v2 carry theirs, v3 standard base64, v4+ URL-safe', async (t) => {
  // The redactable vector carries an ID; computing one for v3+ must ignore nothing but what redaction drops.
  const pdu = { ...vectors.event_signing[0].expected_output } as Pdu;
  t.throws(() => computeEventId(pdu, V('1')), /event_id: missing; room version 1 events carry their own ID/);
  t.equal(computeEventId({ ...pdu, event_id: '$a:b' }, V('2')), '$a:b');
  const hash = computeReferenceHash(pdu, V('3'));
  t.equal(hash.length, 32);
  const std = hash.toString('base64').replace(/=+$/, '');
  t.equal(computeEventId(pdu, V('3')), `$${std}`);
  const urlsafe = `$${hash.toString('base64url')}`;
  for (const id of ['4', '5', '6', '7', '8', '9', '10']) t.equal(computeEventId(pdu, V(id)), urlsafe, `v${id}`);
  t.not(computeEventId(pdu, V('11')), urlsafe, 'v11 redacts origin away, so the reference hash differs');
  t.equal(computeEventId({ ...pdu, unsigned: { age: 9 }, content: { anything: 1 } }, V('4')), urlsafe, 'unsigned and non-essential content do not change the ID');
  t.not(computeEventId({ ...pdu, depth: 4 }, V('4')), urlsafe, 'a signed field does');
});

// Each row: event type, content, the content kept per room version range.
const member = { membership: 'join', displayname: 'x', join_authorised_via_users_server: '@a:b', third_party_invite: { display_name: 'd', signed: { token: 't' } } };
const REDACTION: Array<{ type: string; content: Record<string, unknown>; kept: Record<string, Record<string, unknown>> }> = [
  {
    type: 'm.room.member',
    content: member,
    kept: {
      '1-8': { membership: 'join' },
      '9-10': { membership: 'join', join_authorised_via_users_server: '@a:b' },
      '11': { membership: 'join', join_authorised_via_users_server: '@a:b', third_party_invite: { signed: { token: 't' } } },
    },
  },
  { type: 'm.room.member', content: { membership: 'invite', third_party_invite: { display_name: 'd' } }, kept: { '1-10': { membership: 'invite' }, '11': { membership: 'invite', third_party_invite: {} } } },
  { type: 'm.room.member', content: { membership: 'invite', third_party_invite: 'weird' }, kept: { '1-11': { membership: 'invite' } } },
  { type: 'm.room.create', content: { creator: '@a:b', room_version: '1', 'm.federate': false }, kept: { '1-10': { creator: '@a:b' }, '11': { creator: '@a:b', room_version: '1', 'm.federate': false } } },
  { type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!r:b' }], x: 1 }, kept: { '1-7': { join_rule: 'restricted' }, '8-11': { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: '!r:b' }] } } },
  {
    type: 'm.room.power_levels',
    content: { ban: 1, events: {}, events_default: 2, kick: 3, redact: 4, state_default: 5, users: {}, users_default: 6, invite: 7, notifications: { room: 8 }, historical: 9 },
    kept: {
      '1-10': { ban: 1, events: {}, events_default: 2, kick: 3, redact: 4, state_default: 5, users: {}, users_default: 6 },
      '11': { ban: 1, events: {}, events_default: 2, kick: 3, redact: 4, state_default: 5, users: {}, users_default: 6, invite: 7 },
    },
  },
  { type: 'm.room.aliases', content: { aliases: ['#a:b'] }, kept: { '1-5': { aliases: ['#a:b'] }, '6-11': {} } },
  { type: 'm.room.history_visibility', content: { history_visibility: 'shared', x: 1 }, kept: { '1-11': { history_visibility: 'shared' } } },
  { type: 'm.room.redaction', content: { redacts: '$x', reason: 'spam' }, kept: { '1-10': {}, '11': { redacts: '$x' } } },
  { type: 'm.room.message', content: { body: 'hi', msgtype: 'm.text' }, kept: { '1-11': {} } },
];

function expand(range: string): string[] {
  const [a, b] = range.split('-').map(Number) as [number, number | undefined];
  return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => String(a + i));
}

t.test('redaction keeps each version\'s content keys', async (t) => {
  for (const row of REDACTION) {
    const seen = new Set<string>();
    for (const [range, kept] of Object.entries(row.kept)) {
      for (const id of expand(range)) {
        seen.add(id);
        t.same(redactPdu({ type: row.type, content: row.content } as Pdu, V(id)).content, kept, `${row.type} v${id}`);
      }
    }
    t.same([...seen].sort((a, b) => Number(a) - Number(b)), supportedRoomVersions(), `${row.type}: every version covered`);
  }
});

t.test('redaction keeps the version\'s top-level keys and drops unsigned', async (t) => {
  const full: Pdu = {
    event_id: '$e:b', type: 't', room_id: '!r:b', sender: '@s:b', state_key: '', content: { a: 1 }, hashes: { sha256: 'h' }, signatures: { b: {} },
    depth: 1, prev_events: [], prev_state: [], auth_events: [], origin: 'b', origin_server_ts: 2, membership: 'join', unsigned: { age: 1 }, redacts: '$x', other: 1,
  };
  const common = ['auth_events', 'content', 'depth', 'event_id', 'hashes', 'origin_server_ts', 'prev_events', 'room_id', 'sender', 'signatures', 'state_key', 'type'];
  for (const id of supportedRoomVersions()) {
    const keys = Object.keys(redactPdu(full, V(id))).sort();
    t.same(keys, id === '11' ? common : [...common, 'membership', 'origin', 'prev_state'].sort(), `v${id}`);
  }
  t.same(redactPdu({ type: 'x', content: null } as unknown as Pdu, V('1')), { type: 'x', content: {} }, 'content that is not an object becomes {}');
  t.same(redactPdu({} as Pdu, V('11')), { content: {} });
});
