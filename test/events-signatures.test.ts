// Building, signing and checking events: who must sign, what a check needs,
// and (fast-check) that sign -> verify round-trips in every room version and
// that any change to an event is caught: by a signature when the field is
// signed, by the content hash otherwise.
import t from 'tap';
import fc from 'fast-check';
import { generateSigningKey, type SigningKey } from '../src/matrix/signing-key.js';
import type { VerifyKey } from '../src/matrix/signing.js';
import {
  buildPdu,
  checkContentHash,
  computeReferenceHash,
  keptTopLevelKeys,
  parsePdu,
  redactContent,
  requiredSignatures,
  roomVersion,
  signPdu,
  supportedRoomVersions,
  verifyEventSignatures,
  type EventKeyLookup,
  type Pdu,
  type RoomVersion,
} from '../src/matrix/events/index.js';
import { sampleEvent, sampleFields, sampleRef } from './harness/sample-events.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
t.comment(`fast-check seed ${seed} (FEDPEER_SEED replays)`);
const V = (id: string): RoomVersion => roomVersion(id)!;
const VERSIONS = supportedRoomVersions().map(V);
const alice = generateSigningKey('alice');
const bob = generateSigningKey('bob');

/** Keys of servers by name, as a caller that fetched them would hold them; records each lookup. */
function keyring(entries: Record<string, SigningKey[]>, seen: Array<[string, string, number]> = []): EventKeyLookup {
  return (server, keyId, validAt) => {
    seen.push([server, keyId, validAt]);
    return entries[server]?.find((k) => k.keyId === keyId)?.publicKey as VerifyKey | undefined;
  };
}

t.test('requiredSignatures: sender, v1/v2 event ID server, restricted join authoriser, third-party invite exemption', async (t) => {
  const names = (pdu: Pdu, v: RoomVersion) => requiredSignatures(parsePdu(pdu, v)).map((r) => r.serverName);
  for (const v of VERSIONS) {
    t.same(names(sampleEvent(v, alice), v), ['origin.test'], `v${v.id}: the sender's server`);
    const joinVia = sampleEvent(v, alice, { type: 'm.room.member', stateKey: '@alice:origin.test', content: { membership: 'join', join_authorised_via_users_server: '@mod:resident.test' } });
    t.same(names(joinVia, v), v.restrictedJoinRule ? ['origin.test', 'resident.test'] : ['origin.test'], `v${v.id}: restricted join`);
    const leaveVia = sampleEvent(v, alice, { type: 'm.room.member', stateKey: '@alice:origin.test', content: { membership: 'leave', join_authorised_via_users_server: '@mod:resident.test' } });
    t.same(names(leaveVia, v), ['origin.test'], `v${v.id}: only joins need the authoriser (as Synapse)`);
    const tpi = sampleEvent(v, alice, { type: 'm.room.member', stateKey: '@carol:invited.test', content: { membership: 'invite', third_party_invite: { signed: {} } } });
    t.same(names(tpi, v), v.eventFormat === 1 ? ['origin.test'] : [], `v${v.id}: a third-party invite needs no sender signature`);
  }
  const v1 = V('1');
  const foreignId = parsePdu(sampleEvent(v1, alice, { eventId: '$x:resident.test' }), v1);
  t.same(requiredSignatures(foreignId), [
    { serverName: 'origin.test', why: 'the server of the sender @alice:origin.test' },
    { serverName: 'resident.test', why: 'the server of the event ID $x:resident.test' },
  ]);
  t.same(requiredSignatures(parsePdu(sampleEvent(v1, alice), v1)), [
    { serverName: 'origin.test', why: 'the server of the sender @alice:origin.test; the server of the event ID $sample:origin.test' },
  ], 'one server, both reasons');
});

t.test('verifyEventSignatures: what passes and why the rest fails', async (t) => {
  const v10 = V('10');
  const signed = sampleEvent(v10, alice);
  const ev = parsePdu(signed, v10);
  const seen: Array<[string, string, number]> = [];
  t.same(verifyEventSignatures(ev, keyring({ 'origin.test': [alice] }, seen)), { ok: true, verified: [{ serverName: 'origin.test', keyId: 'ed25519:alice' }] });
  t.same(seen, [['origin.test', 'ed25519:alice', 1_700_000_000_000]], 'v5+: the key must be valid at origin_server_ts');
  const seen4: Array<[string, string, number]> = [];
  verifyEventSignatures(parsePdu(sampleEvent(V('4'), alice), V('4')), keyring({}, seen4));
  t.same(seen4.map((s) => s[2]), [0], 'v1-4: no validity requirement');

  const fail = (pdu: Pdu, keys: EventKeyLookup, v = v10) => {
    const r = verifyEventSignatures(parsePdu(pdu, v), keys);
    return r.ok ? 'ok' : r.reason;
  };
  t.match(fail(signed, keyring({})), /^no known key valid at origin_server_ts 1700000000000 for any signature of origin.test \(the server of the sender @alice:origin.test\): ed25519:alice$/);
  t.match(fail(signed, keyring({ 'origin.test': [generateSigningKey('alice')] })), /^signature ed25519:alice of origin.test \(the server of the sender @alice:origin.test\) does not verify$/, 'another key with the same ID');
  t.match(fail({ ...signed, signatures: {} }, keyring({ 'origin.test': [alice] })), /^not signed by origin.test, the server of the sender/);
  t.match(fail({ ...signed, signatures: { 'origin.test': { 'curve25519:x': 'abc' } } }, keyring({ 'origin.test': [alice] })), /^not signed by origin.test/, 'only ed25519 signatures count');
  // A second key of the sender: unknown keys are skipped, but a known key whose signature fails fails the event.
  const twice = signPdu(signed, v10, 'origin.test', bob);
  t.equal(fail(twice, keyring({ 'origin.test': [alice] })), 'ok', 'unknown ed25519:bob skipped');
  t.equal(fail(twice, keyring({ 'origin.test': [alice, bob] })), 'ok');
  const forged = { ...twice, signatures: { 'origin.test': { ...(twice.signatures as Record<string, Record<string, string>>)['origin.test'], 'ed25519:bob': 'A'.repeat(86) } } };
  t.match(fail(forged, keyring({ 'origin.test': [alice, bob] })), /signature ed25519:bob of origin.test .* does not verify/);
  t.match(fail({ ...signed, signatures: { 'origin.test': { 'ed25519:alice': '!!' } } }, keyring({ 'origin.test': [alice] })), /does not verify/, 'undecodable signature');
  // Other servers' signatures do not matter.
  t.equal(fail({ ...signed, signatures: { ...(signed.signatures as object), 'x.test': { 'ed25519:x': 'junk' } } }, keyring({ 'origin.test': [alice] })), 'ok');
  // A restricted join needs the resident server too.
  const join = sampleEvent(v10, alice, { type: 'm.room.member', stateKey: '@alice:origin.test', content: { membership: 'join', join_authorised_via_users_server: '@mod:resident.test' } });
  t.match(fail(join, keyring({ 'origin.test': [alice] })), /^not signed by resident.test, the server of @mod:resident.test, who authorised the restricted join$/);
  const cosigned = signPdu(join, v10, 'resident.test', bob);
  t.equal(fail(cosigned, keyring({ 'origin.test': [alice], 'resident.test': [bob] })), 'ok');
  t.match(fail(cosigned, keyring({ 'origin.test': [alice], 'resident.test': [alice] })), /no known key .* resident.test/);
  // v1: the event ID's server must sign as well.
  const v1 = V('1');
  const foreign = sampleEvent(v1, alice, { eventId: '$x:resident.test' });
  t.match(fail(foreign, keyring({ 'origin.test': [alice] }), v1), /^not signed by resident.test, the server of the event ID \$x:resident.test$/);
  t.equal(fail(signPdu(foreign, v1, 'resident.test', bob), keyring({ 'origin.test': [alice], 'resident.test': [bob] }), v1), 'ok');
});

t.test('buildPdu: each version\'s wire form', async (t) => {
  const v1 = V('1');
  const create = parsePdu(sampleEvent(v1, alice, { type: 'm.room.create', stateKey: '', content: { creator: '@alice:origin.test' }, prevEvents: [], authEvents: [], eventId: '$create:origin.test' }), v1);
  const built = buildPdu(sampleFields(v1, { prevEvents: [create, { eventId: '$p:origin.test', sha256: 'abc' }], authEvents: [create], eventId: undefined }), v1, { randomId: () => 'r4nd0m' });
  const hash = computeReferenceHash(create.pdu, v1).toString('base64').replace(/=+$/, '');
  t.same(built.prev_events, [['$create:origin.test', { sha256: hash }], ['$p:origin.test', { sha256: 'abc' }]], 'v1 pairs carry reference hashes');
  t.equal(built.event_id, '$r4nd0m:origin.test', 'a new v1 ID from the caller\'s randomness');
  t.equal(built.origin, 'origin.test');
  t.notOk('hashes' in built || 'signatures' in built, 'unsigned and unhashed');
  t.throws(() => buildPdu(sampleFields(v1, { eventId: undefined }), v1), /room version 1 events carry their ID: give fields.eventId or opts.randomId/);
  t.throws(() => buildPdu(sampleFields(v1, { prevEvents: ['$bare:origin.test'] }), v1), /room version 1 references need the referenced event's hash/);
  t.throws(() => buildPdu(sampleFields(v1, { sender: 'nobody' }), v1), /sender "nobody" is not a user ID/);

  const v10 = V('10');
  const v11 = V('11');
  const msg = parsePdu(sampleEvent(v10, alice), v10);
  const b10 = buildPdu(sampleFields(v10, { prevEvents: [msg, { eventId: '$q', sha256: 'x' }], redacts: msg.eventId, unsigned: { age: 1 } }), v10);
  t.same(b10.prev_events, [msg.eventId, '$q'], 'v3+ plain IDs');
  t.notOk('event_id' in b10, 'v3+ carry no event_id');
  t.equal(b10.redacts, msg.eventId, 'v1-10: redacts at the top level');
  t.same(b10.unsigned, { age: 1 });
  const b11 = buildPdu(sampleFields(v11, { redacts: msg.eventId, content: { reason: 'x' } }), v11);
  t.notOk('redacts' in b11);
  t.same(b11.content, { reason: 'x', redacts: msg.eventId }, 'v11: redacts in content');
  const extra = buildPdu(sampleFields(v10, { extra: { depth: 'not a number', custom: true } }), v10);
  t.equal(extra.depth, 'not a number', 'extra overrides');
  t.equal(extra.custom, true);
  t.equal(buildPdu(sampleFields(v10, { stateKey: '' }), v10).state_key, '');
});

// ---- properties ----

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.maxSafeInteger(), fc.string(), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 3 })),
})).value;
const TYPES = ['m.room.member', 'm.room.create', 'm.room.join_rules', 'm.room.power_levels', 'm.room.aliases', 'm.room.history_visibility', 'm.room.redaction', 'm.room.message', 'x.custom'];
const SPECIAL_KEYS = ['membership', 'join_authorised_via_users_server', 'third_party_invite', 'creator', 'join_rule', 'allow', 'ban', 'users', 'invite', 'aliases', 'history_visibility', 'redacts', 'body'];
const eventArb = fc.record({
  version: fc.constantFrom(...VERSIONS),
  type: fc.constantFrom(...TYPES),
  stateKey: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  content: fc.dictionary(fc.constantFrom(...SPECIAL_KEYS, 'other', 'x'), json, { maxKeys: 6 }),
  membership: fc.option(fc.constantFrom('join', 'invite', 'leave', 'ban', 'knock'), { nil: undefined }),
  authorised: fc.boolean(),
  depth: fc.nat(),
  ts: fc.nat(),
  unsigned: fc.option(fc.dictionary(fc.string(), json, { maxKeys: 2 }), { nil: undefined }),
});
type Generated = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

function makeEvent(e: Generated): Pdu {
  const content: Record<string, unknown> = { ...e.content };
  if (e.membership !== undefined) content.membership = e.membership;
  // parsePdu's content rules: a restricted join's authoriser is a user ID (the sender's server here, which signs anyway); v11 redacts is a string.
  if (e.authorised) content.join_authorised_via_users_server = '@mod:origin.test';
  else delete content.join_authorised_via_users_server;
  if (e.version.redactsInContent && content.redacts !== undefined && typeof content.redacts !== 'string') delete content.redacts;
  return sampleEvent(e.version, alice, {
    type: e.type,
    content: content as Pdu,
    depth: e.depth,
    originServerTs: e.ts,
    ...(e.stateKey === undefined ? {} : { stateKey: e.stateKey }),
    ...(e.unsigned === undefined ? {} : { unsigned: e.unsigned as Pdu }),
  });
}

const keys = keyring({ 'origin.test': [alice] });

t.test('property: sign -> parse -> verify round-trips, content hash included, in every version', async (t) => {
  fc.assert(
    fc.property(eventArb, (e) => {
      const ev = parsePdu(makeEvent(e), e.version);
      return verifyEventSignatures(ev, keys).ok && checkContentHash(ev.pdu);
    }),
    { numRuns: 600, seed },
  );
  t.pass('600 events');
});

/** A different value of the same kind, so the change is small but real. */
function changed(v: unknown): unknown {
  if (typeof v === 'string') return `${v}x`;
  if (typeof v === 'number') return v === Number.MAX_SAFE_INTEGER ? 0 : v + 1;
  if (typeof v === 'boolean') return !v;
  if (v === null) return 0;
  if (Array.isArray(v)) return v.length ? v.slice(1) : [0];
  return { ...(v as object), '~': 1 };
}

t.test('property: a change to a signed field fails the signature check; any other content change fails the hash check', async (t) => {
  let signedChanges = 0;
  let contentChanges = 0;
  fc.assert(
    fc.property(eventArb, fc.nat(), (e, pick) => {
      const pdu = makeEvent(e);
      const v = e.version;
      // A third-party invite in v3+ needs no signature at all (the auth rules check its own); nothing to break.
      if (requiredSignatures(parsePdu(JSON.parse(JSON.stringify(pdu)), v)).length === 0) return true;
      const content = pdu.content as Record<string, unknown>;
      const kept = redactContent(pdu.type, content, v);
      const signedTop = Object.keys(pdu).filter((k) => keptTopLevelKeys(v).has(k) && k !== 'signatures' && k !== 'content');
      // A v11 member event keeps only `signed` of third_party_invite; changed() adds a key beside it, so that is a content change.
      const signedContent = Object.keys(kept).filter((k) => !(k === 'third_party_invite' && pdu.type === 'm.room.member' && v.updatedRedactionRules));
      const otherContent = Object.keys(content).filter((k) => !signedContent.includes(k));
      const targets = [...signedTop.map((k) => ['top', k] as const), ...signedContent.map((k) => ['kept', k] as const), ...otherContent.map((k) => ['other', k] as const)];
      const [where, k] = targets[pick % targets.length]!;
      const mutated: Pdu = where === 'top' ? { ...pdu, [k]: changed(pdu[k]) as Pdu } : { ...pdu, content: { ...content, [k]: changed(content[k]) } as Pdu };
      let ev;
      try {
        ev = parsePdu(mutated, v);
      } catch {
        return true; // no longer well formed: refused before any signature check
      }
      const sigOk = verifyEventSignatures(ev, keys).ok;
      if (where !== 'other') {
        signedChanges++;
        return !sigOk;
      }
      contentChanges++;
      // In v8 the authoriser is not kept by redaction, yet names a server that must sign: its change fails both.
      return !checkContentHash(ev.pdu) && (sigOk || k === 'join_authorised_via_users_server');
    }),
    { numRuns: 1500, seed },
  );
  t.ok(signedChanges > 300 && contentChanges > 100, `${signedChanges} signed-field changes, ${contentChanges} content changes`);
});

t.test('references of every version survive a round trip through buildPdu', async (t) => {
  for (const v of VERSIONS) {
    const ev = parsePdu(sampleEvent(v, alice, { prevEvents: [sampleRef(v, 'a')], authEvents: [] }), v);
    t.equal(ev.prevEvents.length, 1);
    t.same(ev.authEvents, []);
  }
});
