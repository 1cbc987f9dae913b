// The trust and cache logic of src/federation/keys.ts. Documents come from
// real signing; the fetchers hand them over in-process (the network path is
// covered by the peer tests, where the federation client fetches them).
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createKeyStore, missingKeyReason, type KeyFetchers } from '../src/federation/keys.js';
import { buildKeyDocument } from '../src/server/key-document.js';
import { generateSigningKey, type SigningKey } from '../src/matrix/signing-key.js';
import { signJson } from '../src/matrix/signing.js';
import { captureLogger } from './harness/server-fixture.js';

const silent = pino({ level: 'silent' });
const DAY = 86_400_000;

function doc(server: string, keys: SigningKey[], now: number, lifetime = DAY) {
  return buildKeyDocument({ serverName: server, signingKeys: keys, oldVerifyKeys: {}, refreshIntervalMs: lifetime, now: () => now }).object;
}

t.test('direct fetch, cache, shared concurrent fetch, expiry', async (t) => {
  let now = 1_000_000;
  const key = generateSigningKey('a');
  let calls = 0;
  const fetchers: KeyFetchers = {
    direct: async (name) => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      return doc(name, [key], now);
    },
    notary: async () => {
      throw new Error('no notary');
    },
  };
  const store = createKeyStore({ fetchers, trustedKeyServers: [], now: () => now, logger: silent });
  const results = await Promise.all(Array.from({ length: 50 }, () => store.getServerKeys('o.test')));
  t.equal(calls, 1, '50 concurrent lookups, one fetch');
  t.ok(results.every((r) => r.keys?.verifyKeys['ed25519:a']));
  t.equal((await store.getServerKeys('o.test')).source, 'cache');
  t.ok((await store.lookupVerifyKey('o.test', 'ed25519:a')).key);
  now += DAY + 1;
  t.equal((await store.getServerKeys('o.test')).source, 'direct', 'refetched after valid_until_ts');
  t.equal(calls, 2);
});

t.test('a key replaced after caching is found by one refetch, not one per request', async (t) => {
  let now = 1_000_000;
  let current = generateSigningKey('old');
  let calls = 0;
  const store = createKeyStore({
    fetchers: { direct: async (n) => (calls++, doc(n, [current], now)), notary: async () => ({}) },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
    refetchUnknownKeyAfterMs: 60_000,
  });
  t.ok((await store.lookupVerifyKey('o.test', 'ed25519:old')).key);
  current = generateSigningKey('new');
  t.same(await store.lookupVerifyKey('o.test', 'ed25519:new'), { key: null, reason: 'no current key ed25519:new for o.test (its key document, fetched less than a minute ago, lists ed25519:old)' }, 'keys fetched less than a minute ago are not fetched again');
  t.equal(calls, 1);
  now += 60_000;
  t.ok((await store.lookupVerifyKey('o.test', 'ed25519:new')).key, 'new key found');
  t.equal(calls, 2);
  for (let i = 0; i < 50; i++) t.equal((await store.lookupVerifyKey('O.TEST', `ed25519:bogus${i}`)).key, null);
  t.equal(calls, 2, '50 unknown key ids (and letter cases) of one origin within the minute: no fetch');
  now += 60_000;
  await store.lookupVerifyKey('o.test', 'ed25519:bogus');
  t.equal(calls, 3, 'an unknown key id refetches at most once a minute per origin');
});

t.test('invalid direct answers fall back to trusted notaries, checked twice', async (t) => {
  const now = 5_000_000;
  const origin = generateSigningKey('o');
  const notaryKey = generateSigningKey('n');
  const trusted = [{ serverName: 'notary.test', verifyKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, acceptKeysInsecurely: false }];
  let notaryAnswer: () => unknown = () => ({ server_keys: [signJson(doc('o.test', [origin], now), 'notary.test', notaryKey)] });
  const store = createKeyStore({
    fetchers: {
      direct: async () => {
        throw new Error('connection refused');
      },
      notary: async (name, body) => {
        t.equal(name, 'notary.test');
        t.same(Object.values(body.server_keys), [{}]);
        return notaryAnswer();
      },
    },
    trustedKeyServers: trusted,
    now: () => now,
    logger: silent,
    retryFailedFetchAfterMs: 0,
  });
  const ok = await store.getServerKeys('o.test');
  t.equal(ok.source, 'notary notary.test');
  t.same(ok.attempts.map((a) => [a.source, a.ok]), [['direct', false], ['notary notary.test', true]]);
  t.match(ok.attempts[0]!.error, /connection refused/);

  const cases: Array<[string, () => unknown, RegExp]> = [
    ['broken notary signature', () => ({ server_keys: [signJson(doc('p.test', [origin], now), 'notary.test', generateSigningKey('n'))] }), /notary signature: .*does not verify/],
    ['broken origin signature', () => ({ server_keys: [signJson({ ...doc('p.test', [origin], now), valid_until_ts: now + 5 }, 'notary.test', notaryKey)] }), /does not verify/],
    ['nothing for the server', () => ({ server_keys: [] }), /returned no keys for p.test/],
    ['not an object', () => 'garbage', /returned no keys/],
  ];
  for (const [name, answer, reason] of cases) {
    notaryAnswer = answer;
    const r = await store.getServerKeys('p.test');
    t.notOk(r.keys, name);
    const last = r.attempts[r.attempts.length - 1]!;
    t.match(last.error ?? last.checks.map((c) => c.detail).join(' '), reason, name);
  }
  const insecure = createKeyStore({
    fetchers: { direct: async () => ({}), notary: async () => ({ server_keys: [doc('o.test', [origin], now)] }) },
    trustedKeyServers: [{ serverName: 'n.test', acceptKeysInsecurely: true }, { serverName: 'm.test', acceptKeysInsecurely: false }],
    now: () => now,
    logger: silent,
  });
  const r = await insecure.getServerKeys('o.test');
  t.equal(r.source, 'notary n.test');
  t.match(r.attempts[1]!.checks.at(-1)!.detail, /accept_keys_insecurely/);
  const noKeys = createKeyStore({
    fetchers: { direct: async () => ({}), notary: async () => ({ server_keys: [doc('o.test', [origin], now)] }) },
    trustedKeyServers: [{ serverName: 'm.test', acceptKeysInsecurely: false }],
    now: () => now,
    logger: silent,
  });
  t.match((await noKeys.getServerKeys('o.test')).attempts[1]!.checks.at(-1)!.detail, /no verify_keys configured for notary m.test/);
});

t.test('a key lookup without a key says why: the failed fetch and its cause, or what the document lists', async (t) => {
  const now = 5_000_000;
  const origin = generateSigningKey('o');
  const notaryKey = generateSigningKey('n');
  const old = buildKeyDocument({ serverName: 'old.test', signingKeys: [origin], oldVerifyKeys: { 'ed25519:was': { key: origin.publicKeyBase64, expiredTs: now - 1 } }, refreshIntervalMs: DAY, now: () => now }).object;
  const store = createKeyStore({
    fetchers: {
      direct: async (name) => {
        if (name === 'down.test') throw new Error('connect: connection-refused: 192.0.2.1:8448 refused the connection');
        if (name === 'expired.test') return { ...doc(name, [origin], now - 2 * DAY), valid_until_ts: now - DAY };
        return name === 'old.test' ? old : doc(name, [origin], now);
      },
      notary: async () => ({ server_keys: [] }),
    },
    trustedKeyServers: [{ serverName: 'notary.test', verifyKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, acceptKeysInsecurely: false }],
    now: () => now,
    logger: silent,
  });
  t.same(await store.lookupVerifyKey('DOWN.test', 'ed25519:o'), {
    key: null,
    reason: 'no current key ed25519:o for down.test: could not fetch keys of down.test: direct: connect: connection-refused: 192.0.2.1:8448 refused the connection; notary notary.test: the notary returned no keys for down.test',
  });
  t.match((await store.lookupVerifyKey('expired.test', 'ed25519:o')) as { reason: string }, { reason: /could not fetch keys of expired.test: direct: its key document was refused: .*valid_until_ts/ });
  t.same(await store.lookupVerifyKey('old.test', 'ed25519:was'), { key: null, reason: 'ed25519:was of old.test is an old key (old_verify_keys), not a current one' });
  // Fetched just now, as this lookup's own fetch: the document's key ids.
  t.same(await store.lookupVerifyKey('fine.test', 'ed25519:other'), { key: null, reason: 'no current key ed25519:other for fine.test (its key document lists ed25519:o)' });
  t.equal(missingKeyReason('x.test', 'ed25519:k', { attempts: [] }), 'no current key ed25519:k for x.test');
  t.equal(missingKeyReason('x.test', 'ed25519:k', { attempts: [{ source: 'direct', ok: false, checks: [{ check: 'json_object', ok: true, detail: 'a JSON object' }] }] }), 'no current key ed25519:k for x.test: could not fetch keys of x.test: no usable key document');
});

t.test('the last good answer is kept through failures when asked', async (t) => {
  let now = 1_000;
  let up = true;
  const key = generateSigningKey('a');
  const store = createKeyStore({
    fetchers: {
      direct: async (n) => {
        if (!up) throw new Error('down');
        return doc(n, [key], now, 1000);
      },
      notary: async () => ({}),
    },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
  });
  await store.getServerKeys('o.test');
  up = false;
  now += 5000;
  const gone = await store.getServerKeys('o.test');
  t.notOk(gone.keys);
  const stale = await store.getServerKeys('o.test', { keepStale: true });
  t.ok(stale.stale);
  t.equal(stale.keys?.serverName, 'o.test');
});

t.test('the cache persists across restarts; a corrupt file is set aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-keys-'));
  const cacheFile = join(dir, 'data', 'server-keys.json');
  const now = Date.now();
  const key = generateSigningKey('a');
  let calls = 0;
  const fetchers: KeyFetchers = { direct: async (n) => (calls++, doc(n, [key], now)), notary: async () => ({}) };
  const a = createKeyStore({ fetchers, trustedKeyServers: [], logger: silent, cacheFile, now: () => now });
  await a.getServerKeys('o.test');
  await a.close();
  t.match(readFileSync(cacheFile, 'utf8'), /"o.test"/);
  const b = createKeyStore({ fetchers, trustedKeyServers: [], logger: silent, cacheFile, now: () => now });
  t.equal((await b.getServerKeys('o.test')).source, 'cache', 'no refetch after restart');
  t.equal(calls, 1);
  // A hand-edited entry does not survive the re-check on load.
  const data = JSON.parse(readFileSync(cacheFile, 'utf8'));
  data.servers['o.test'].document.valid_until_ts += 1;
  writeFileSync(cacheFile, JSON.stringify(data));
  const c = createKeyStore({ fetchers, trustedKeyServers: [], logger: silent, cacheFile, now: () => now });
  t.equal((await c.getServerKeys('o.test')).source, 'direct');
  writeFileSync(cacheFile, '{not json');
  const log = captureLogger('warn');
  const d = createKeyStore({ fetchers, trustedKeyServers: [], logger: log.logger, cacheFile, now: () => now });
  t.equal((await d.getServerKeys('o.test')).source, 'direct', 'corrupt cache is not fatal');
  t.match(log.raw(), /key cache file is corrupt; set aside/);
  t.ok(readdirSync(join(dir, 'data')).some((f) => f.startsWith('server-keys.json.corrupt-')));
  await d.flush();
  t.match(readFileSync(cacheFile, 'utf8'), /"version":1/);
});

t.test('the cache is bounded in entries and bytes, least recently used out', async (t) => {
  const now = 1_000_000;
  const key = generateSigningKey('a');
  const store = createKeyStore({
    fetchers: { direct: async (n) => doc(n, [key], now), notary: async () => ({}) },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
    limits: { maxEntries: 3 },
  });
  for (const n of ['a.test', 'b.test', 'c.test']) await store.getServerKeys(n);
  await store.getServerKeys('a.test');
  await store.getServerKeys('d.test');
  t.same(['a.test', 'b.test', 'c.test', 'd.test'].map((n) => store.cached(n) !== undefined), [true, false, true, true], 'b.test, least recently used, went first');
  t.equal(store.stats().entries, 3);
  const one = store.stats().bytes / 3;
  const small = createKeyStore({
    fetchers: { direct: async (n) => doc(n, [key], now), notary: async () => ({}) },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
    limits: { maxBytes: Math.floor(2.5 * one) },
  });
  for (const n of ['a.test', 'b.test', 'c.test', 'd.test']) await small.getServerKeys(n);
  t.equal(small.stats().entries, 2, `${Math.floor(2.5 * one)} bytes hold two documents of ${Math.round(one)}`);
  t.ok(small.stats().bytes <= 2.5 * one);
});

t.test('a requested key id the cache lacks refetches once the throttle allows; a stricter freshness too', async (t) => {
  let now = 1_000_000;
  let current = [generateSigningKey('one')];
  let calls = 0;
  const store = createKeyStore({
    fetchers: { direct: async (n) => (calls++, doc(n, current, now)), notary: async () => ({}) },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
  });
  await store.getServerKeys('o.test', { keyIds: ['ed25519:one'] });
  current = [generateSigningKey('two')];
  t.notOk((await store.getServerKeys('o.test', { keyIds: ['ed25519:two'] })).keys?.verifyKeys['ed25519:two'], 'within the minute: the cached answer');
  await store.getServerKeys('o.test', { fresh: () => false });
  t.equal(calls, 1, 'a stricter freshness within the minute: no fetch');
  now += 60_000;
  t.ok((await store.getServerKeys('o.test', { keyIds: ['ed25519:two'] })).keys?.verifyKeys['ed25519:two'], 'after it: refetched');
  t.equal(calls, 2);
  t.ok(store.cachedVerifyKey('O.TEST', 'ed25519:two'), 'cached keys by any letter case');
  t.notOk(store.cachedVerifyKey('o.test', 'ed25519:one'));
  t.notOk(store.cachedVerifyKey('x.test', 'ed25519:two'));
  now += 2 * DAY;
  t.notOk(store.cachedVerifyKey('o.test', 'ed25519:two'), 'not once expired');
});

t.test('a failed fetch is the answer for a while; a full queue or a caller who left costs nothing', async (t) => {
  let now = 1_000_000;
  let calls = 0;
  const store = createKeyStore({
    fetchers: {
      direct: async (_n, signal) => {
        calls++;
        await new Promise((r, reject) => {
          const timer = setTimeout(r, 50);
          signal?.addEventListener('abort', () => (clearTimeout(timer), reject(new Error('aborted'))));
        });
        throw new Error('down');
      },
      notary: async () => ({}),
    },
    trustedKeyServers: [],
    now: () => now,
    logger: silent,
    limits: { maxFetchesPerRequester: 1, maxQueuedPerRequester: 1 },
  });
  const first = await store.getServerKeys('f.test', { requester: 'x' });
  t.match(first.attempts[0]!.error, /down/);
  const again = await store.getServerKeys('f.test', { requester: 'x' });
  t.equal(calls, 1, 'within 10 s: the remembered failure');
  t.same(again.attempts, first.attempts);
  now += 10_000;
  // One running, one waiting, the third refused for this requester.
  const burst = await Promise.all(['g1.test', 'g2.test', 'g3.test'].map((n) => store.getServerKeys(n, { requester: 'x' })));
  t.match(burst[2]!.attempts[0]!.error, /not fetched: 1 tasks of this requester are waiting already/);
  const c = new AbortController();
  const leaving = store.getServerKeys('h.test', { requester: 'y', signal: c.signal });
  c.abort();
  t.match((await leaving).attempts[0]!.error, /not fetched: the requester went away/);
  const after = calls;
  await store.getServerKeys('h.test', { requester: 'y' });
  t.equal(calls, after + 1, 'an abandoned fetch is not remembered as a failure');
});

t.test('stale temporary cache files are removed; the file is written whole', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-keys-tmp-'));
  const cacheFile = join(dir, 'server-keys.json');
  writeFileSync(`${cacheFile}.tmp-999999999`, 'x'.repeat(1000));
  writeFileSync(`${cacheFile}.tmp-${process.ppid}`, 'a live process');
  writeFileSync(`${cacheFile}.tmp-junk`, 'x');
  const key = generateSigningKey('a');
  const store = createKeyStore({ fetchers: { direct: async (n) => doc(n, [key], Date.now()), notary: async () => ({}) }, trustedKeyServers: [], logger: silent, cacheFile });
  await store.getServerKeys('o.test');
  await store.flush();
  const left = readdirSync(dir).sort();
  t.same(left, ['server-keys.json', `server-keys.json.tmp-${process.ppid}`], 'a dead process\'s and an unnamed temporary file are gone; a live one\'s stays');
  t.same(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8')).servers), ['o.test']);
});
