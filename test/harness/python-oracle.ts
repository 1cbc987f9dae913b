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
