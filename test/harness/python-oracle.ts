// The reference implementation Synapse uses (python3-canonicaljson,
// python3-signedjson) run as a real subprocess, as the oracle for canonical
// JSON and signatures. One process per batch keeps thousands of cases fast.
import { spawnSync } from 'node:child_process';
import { PYTHON } from './tools.js';

const SCRIPT = String.raw`
import sys, json, base64
from canonicaljson import encode_canonical_json
from signedjson.key import decode_signing_key_base64, decode_verify_key_bytes
from signedjson.sign import sign_json, verify_signed_json, SignatureVerifyException
from unpaddedbase64 import decode_base64
req = json.loads(sys.stdin.buffer.read().decode('utf-8'))
op = req['op']
out = []
if op == 'canonical':
    for v in req['values']:
        out.append(base64.b64encode(encode_canonical_json(v)).decode())
elif op == 'sign':
    key = decode_signing_key_base64('ed25519', req['version'], req['seed'])
    for v in req['values']:
        out.append(sign_json(v, req['server_name'], key))
elif op == 'verify':
    vk = decode_verify_key_bytes(req['key_id'], decode_base64(req['public_key']))
    for v in req['values']:
        try:
            verify_signed_json(v, req['server_name'], vk)
            out.append(True)
        except SignatureVerifyException:
            out.append(False)
elif op == 'events':
    # A second implementation of event hashing, redaction, IDs and signing,
    # written from the spec text (room versions as numbers) with Synapse's
    # content-hash exclusions; nothing is shared with the TypeScript side.
    import hashlib
    from signedjson.key import get_verify_key
    from unpaddedbase64 import encode_base64
    v = int(req['version'])
    key = decode_signing_key_base64('ed25519', req['key_version'], req['seed'])
    def redact(ev):
        keys = ['event_id', 'type', 'room_id', 'sender', 'state_key', 'content', 'hashes', 'signatures',
                'depth', 'prev_events', 'auth_events', 'origin_server_ts']
        if v < 11:
            keys += ['prev_state', 'membership', 'origin']
        out = {k: ev[k] for k in keys if k in ev}
        c = ev.get('content')
        c = c if isinstance(c, dict) else {}
        t = ev.get('type')
        nc = {}
        def keep(*ks):
            for k in ks:
                if k in c:
                    nc[k] = c[k]
        if t == 'm.room.member':
            keep('membership')
            if v >= 9:
                keep('join_authorised_via_users_server')
            if v >= 11 and isinstance(c.get('third_party_invite'), dict):
                tpi = c['third_party_invite']
                nc['third_party_invite'] = {'signed': tpi['signed']} if 'signed' in tpi else {}
        elif t == 'm.room.create':
            if v >= 11:
                nc = dict(c)
            else:
                keep('creator')
        elif t == 'm.room.join_rules':
            keep('join_rule')
            if v >= 8:
                keep('allow')
        elif t == 'm.room.power_levels':
            keep('ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default')
            if v >= 11:
                keep('invite')
        elif t == 'm.room.aliases':
            if v <= 5:
                keep('aliases')
        elif t == 'm.room.history_visibility':
            keep('history_visibility')
        elif t == 'm.room.redaction':
            if v >= 11:
                keep('redacts')
        out['content'] = nc
        return out
    def signed_part(ev):
        r = redact(ev)
        r.pop('signatures', None)
        r.pop('unsigned', None)
        return r
    for item in req['items']:
        ev = json.loads(item['text'])
        hashed = {k: x for k, x in ev.items() if k not in ('unsigned', 'signatures', 'hashes', 'age_ts', 'outlier', 'destinations')}
        content_hash = encode_base64(hashlib.sha256(encode_canonical_json(hashed)).digest())
        ref = hashlib.sha256(encode_canonical_json(signed_part(ev))).digest()
        if v <= 2:
            event_id = ev.get('event_id')
        elif v == 3:
            event_id = '$' + encode_base64(ref)
        else:
            event_id = '$' + encode_base64(ref, urlsafe=True)
        # A fresh copy: sign_json adds to the signatures dict it is given.
        to_sign = json.loads(item['text'])
        to_sign['hashes'] = dict(ev['hashes']) if isinstance(ev.get('hashes'), dict) else {}
        to_sign['hashes']['sha256'] = content_hash
        signed = sign_json(redact(to_sign), item['server_name'], key)
        ours_ok = None
        if 'ours' in item:
            ours = json.loads(item['ours'])
            try:
                verify_signed_json(redact(ours), item['server_name'], get_verify_key(key))
                ours_ok = True
            except SignatureVerifyException:
                ours_ok = False
        out.append({
            'content_hash': content_hash,
            'reference_hash': encode_base64(ref),
            'event_id': event_id,
            'redacted': encode_canonical_json(redact(ev)).decode('utf-8'),
            'signature': signed['signatures'][item['server_name']]['ed25519:' + req['key_version']],
            'ours_verify': ours_ok,
        })
elif op == 'float_repr':
    for x in req['values']:
        out.append(encode_canonical_json(json.loads(x)).decode('utf-8'))
sys.stdout.write(json.dumps(out))
`;

function run(request: Record<string, unknown>): unknown[] {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], { input: JSON.stringify(request), maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`python oracle failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString('utf8')) as unknown[];
}

export function pyCanonical(values: unknown[]): Buffer[] {
  return (run({ op: 'canonical', values }) as string[]).map((b) => Buffer.from(b, 'base64'));
}

export function pySign<T>(values: T[], opts: { seed: string; version: string; serverName: string }): T[] {
  return run({ op: 'sign', values, seed: opts.seed, version: opts.version, server_name: opts.serverName }) as T[];
}

export function pyVerify(values: unknown[], opts: { keyId: string; publicKey: string; serverName: string }): boolean[] {
  return run({ op: 'verify', values, key_id: opts.keyId, public_key: opts.publicKey, server_name: opts.serverName }) as boolean[];
}

export interface PyEventResult {
  content_hash: string;
  reference_hash: string;
  event_id: string | null;
  /** Canonical JSON of the redacted event. */
  redacted: string;
  /** Python's signature over its own redaction of the event with `hashes.sha256` set. */
  signature: string;
  /** Whether signedjson verifies the signed event given as `ours` (null when none was given). */
  ours_verify: boolean | null;
}

/**
 * Events given as JSON text (so floats and big integers reach Python as
 * written), processed by an independent Python implementation of the room
 * version's redaction, content hash, reference hash, event ID and signing
 * (signed as `serverName` with the key of `opts`).
 */
export function pyEvents(version: string, items: Array<{ text: string; serverName: string; ours?: string }>, opts: { seed: string; keyVersion: string }): PyEventResult[] {
  return run({
    op: 'events',
    version,
    items: items.map((i) => ({ text: i.text, server_name: i.serverName, ...(i.ours === undefined ? {} : { ours: i.ours }) })),
    seed: opts.seed,
    key_version: opts.keyVersion,
  }) as PyEventResult[];
}

/** python3-canonicaljson's output for each JSON text, read with Python's json module. */
export function pyCanonicalOfText(texts: string[]): string[] {
  return run({ op: 'float_repr', values: texts }) as string[];
}
