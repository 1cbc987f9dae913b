import t from 'tap';
import { vectors } from './harness/vectors.js';
import { mkdtempSync } from 'node:fs';
import nacl from 'tweetnacl';
import { signJson, verifyJsonSignature, signedBytes } from '../src/matrix/signing.js';
import {
  signingKeyFromSeed,
  parseSigningKeys,
  formatSigningKeys,
  generateSigningKey,
  publicKeyFromBase64,
  SigningKeyError,
} from '../src/matrix/signing-key.js';
import { decodeBase64, encodeBase64 } from '../src/matrix/base64.js';
import { pySign, pyVerify } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { prng, randomJson } from './harness/random-json.js';


function naclVerify(obj: Record<string, unknown>, server: string, keyId: string, pub: Uint8Array): boolean {
  const sig = decodeBase64((obj.signatures as Record<string, Record<string, string>>)[server]![keyId]!);
  return nacl.sign.detached.verify(signedBytes(obj), sig, pub);
}

t.test('unpadded base64 vectors', async (t) => {
  for (const v of vectors.unpadded_base64) {
    t.equal(encodeBase64(Buffer.from(v.input_utf8, 'utf8')), v.expected);
    t.equal(decodeBase64(v.expected).toString('utf8'), v.input_utf8);
  }
  t.same(decodeBase64('Zm9vYg=='), Buffer.from('foob'), 'padded input accepted');
  t.same(decodeBase64('Zm9vYg'), Buffer.from('foob'));
  t.throws(() => decodeBase64('Zm9v!'), /unexpected character/);
  t.throws(() => decodeBase64('Zm9vY'), /impossible length/);
  t.throws(() => decodeBase64('Zm9vYg='), /wrong padding/);
  t.throws(() => decodeBase64('Zm=9'), /unexpected character/);
});

t.test('spec signing vectors reproduce exactly, and tweetnacl agrees', async (t) => {
  for (const v of vectors.signing) {
    const key = signingKeyFromSeed(decodeBase64(v.seed_base64), v.key_id.split(':')[1]);
    t.equal(key.keyId, v.key_id);
    t.equal(key.publicKeyBase64, 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI');
    const input = v.input;
    const signed = signJson(input, v.server_name, key);
    t.equal(signed.signatures[v.server_name]![v.key_id], v.expected_signature, v.name);
    t.same(signed, v.expected_output, `${v.name}: whole object`);
    t.same(verifyJsonSignature(v.expected_output, v.server_name, v.key_id, key.publicKey), { ok: true });
    // tweetnacl as the independent second implementation
    const naclKey = nacl.sign.keyPair.fromSeed(key.seed);
    t.equal(encodeBase64(naclKey.publicKey), key.publicKeyBase64);
    t.equal(encodeBase64(nacl.sign.detached(signedBytes(input), naclKey.secretKey)), v.expected_signature);
    t.ok(naclVerify(v.expected_output, v.server_name, v.key_id, naclKey.publicKey));
  }
});

t.test('signing keeps other signatures and unsigned, ignores them in the signed bytes', async (t) => {
  const key = generateSigningKey();
  const obj = { a: 1, unsigned: { age: 5 }, signatures: { other: { 'ed25519:x': 'abc' } } };
  const signed = signJson(obj, 'me', key);
  t.same(signed.signatures.other, { 'ed25519:x': 'abc' });
  t.same(signed.unsigned, { age: 5 });
  t.same(verifyJsonSignature({ ...signed, unsigned: { age: 99 } }, 'me', key.keyId, key.publicKey), { ok: true });
  const twice = signJson(signed, 'me', generateSigningKey('b'));
  t.same(Object.keys(twice.signatures.me!).sort(), [key.keyId, 'ed25519:b']);
  t.notOk(Object.prototype.hasOwnProperty.call(obj.signatures, 'me'), 'input not mutated');
});

t.test('verification failures name the reason', async (t) => {
  const key = generateSigningKey('k');
  const signed = signJson({ a: 1 }, 'me', key);
  const pk = key.publicKey;
  const cases: Array<[unknown, string, string, RegExp]> = [
    [[1], 'me', key.keyId, /not a JSON object/],
    [{ a: 1 }, 'me', key.keyId, /no signatures/],
    [signed, 'you', key.keyId, /no signature from you/],
    [signed, 'me', 'ed25519:z', /with key ed25519:z/],
    [{ ...signed, a: 2 }, 'me', key.keyId, /does not verify/],
    [{ ...signed, signatures: { me: { [key.keyId]: 'AAAA' } } }, 'me', key.keyId, /3 bytes, expected 64/],
    [{ ...signed, signatures: { me: { [key.keyId]: '!!' } } }, 'me', key.keyId, /unexpected character/],
    [{ ...signed, x: 1.5 }, 'me', key.keyId, /cannot canonicalise/],
  ];
  for (const [obj, server, keyId, reason] of cases) {
    const r = verifyJsonSignature(obj, server, keyId, pk);
    t.equal(r.ok, false);
    t.match(!r.ok && r.reason, reason);
  }
  t.same(verifyJsonSignature(signed, 'me', key.keyId, generateSigningKey().publicKey).ok, false, 'wrong key');
});

t.test('signing key files', async (t) => {
  const key = generateSigningKey();
  t.match(key.version, /^a_[a-zA-Z]{4}$/);
  const text = formatSigningKeys([key]);
  t.match(text, /^ed25519 a_[a-zA-Z]{4} [A-Za-z0-9+/]{43}\n$/);
  const [back] = parseSigningKeys(text, 'k.key');
  t.equal(back!.publicKeyBase64, key.publicKeyBase64);
  // Synapse writes exactly this format (signedjson.key.write_signing_keys)
  const synapse = 'ed25519 a_AbCd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0\n';
  t.equal(parseSigningKeys(synapse)[0]!.publicKeyBase64, 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI');
  const two = parseSigningKeys(`${synapse}\r\n\ned25519 b ${encodeBase64(key.seed)}`, 'x');
  t.same(two.map((k) => k.keyId), ['ed25519:a_AbCd', 'ed25519:b']);
  const bad: Array<[string, RegExp]> = [
    ['ed25519 a_1', /k\.key:1: expected "ed25519 <version> <base64 seed>", found 2 field/],
    ['\ncurve25519 a_1 AAAA', /k\.key:2: unsupported algorithm "curve25519"/],
    ['ed25519 a-1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0', /k\.key:1: invalid key version "a-1"/],
    ['ed25519 a_1 AAAA', /k\.key:1: an Ed25519 seed is 32 bytes, got 3/],
    ['ed25519 a_1 AA*A', /k\.key:1: invalid base64/],
    ['', /k\.key: no signing key found/],
  ];
  for (const [content, msg] of bad) t.throws(() => parseSigningKeys(content, 'k.key'), msg);
  t.throws(() => parseSigningKeys('x'), SigningKeyError);
  t.throws(() => publicKeyFromBase64('AAAA'), /public key is 32 bytes/);
  t.ok(mkdtempSync);
});

t.test('python3-signedjson verifies our signatures and we verify its', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const key = generateSigningKey();
  const gen = randomJson(prng(Number(process.env.FEDPEER_SEED ?? 7)));
  const values = Array.from({ length: 300 }, () => gen.top());
  const ours = values.map((v) => signJson(v, 'example.test', key));
  t.same(pyVerify(ours, { keyId: key.keyId, publicKey: key.publicKeyBase64, serverName: 'example.test' }), ours.map(() => true));
  const tampered = ours.slice(0, 20).map((v) => ({ ...v, tampered: 1 }));
  t.same(pyVerify(tampered, { keyId: key.keyId, publicKey: key.publicKeyBase64, serverName: 'example.test' }), tampered.map(() => false));
  const theirs = pySign(values, { seed: encodeBase64(key.seed), version: key.version, serverName: 'example.test' });
  let bad = 0;
  theirs.forEach((v, i) => {
    if (!verifyJsonSignature(v, 'example.test', key.keyId, key.publicKey).ok) bad++;
    if (!naclVerify(v as Record<string, unknown>, 'example.test', key.keyId, key.publicKeyBytes)) bad++;
    // Ed25519 is deterministic: both implementations produce the same signature.
    if ((v as { signatures: Record<string, Record<string, string>> }).signatures['example.test']![key.keyId] !== ours[i]!.signatures['example.test']![key.keyId]) bad++;
  });
  t.equal(bad, 0, '300 python signatures verified by libsodium and tweetnacl, identical to ours');
});

t.test('libsodium signing and detached verification agree with tweetnacl', async (t) => {
  const { checkDetached } = await import('../src/matrix/signing.js');
  const { publicKeyFromBytes } = await import('../src/matrix/signing-key.js');
  const gen = randomJson(prng(Number(process.env.FEDPEER_SEED ?? 11)));
  let bad = 0;
  for (let i = 0; i < 100; i++) {
    const key = generateSigningKey();
    const naclKey = nacl.sign.keyPair.fromSeed(key.seed);
    const bytes = signedBytes(gen.top() as Record<string, unknown>);
    const sig = nacl.sign.detached(bytes, naclKey.secretKey);
    if (!checkDetached(bytes, encodeBase64(sig), publicKeyFromBytes(naclKey.publicKey), key.keyId).ok) bad++;
    const flipped = Buffer.from(sig);
    flipped[i % 64]! ^= 1;
    if (checkDetached(bytes, encodeBase64(flipped), key.publicKey, key.keyId).ok) bad++;
    const ours = signJson({ n: i }, 's', key);
    if (!naclVerify(ours, 's', key.keyId, naclKey.publicKey)) bad++;
  }
  t.equal(bad, 0, '100 keys: tweetnacl signatures verify with libsodium, flipped bits do not, ours verify with tweetnacl');
  const key = generateSigningKey();
  t.match(checkDetached(Buffer.from('x'), 'not base64!', key.publicKey, 'ed25519:k'), { ok: false, reason: /signature ed25519:k: invalid base64/ });
  t.match(checkDetached(Buffer.from('x'), 'AAAA', key.publicKey, 'ed25519:k'), { ok: false, reason: /is 3 bytes, expected 64/ });
  t.throws(() => publicKeyFromBytes(new Uint8Array(31)), /32 bytes, got 31/);
});
