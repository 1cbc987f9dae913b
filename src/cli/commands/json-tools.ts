import type { CommandSpec } from '../types.js';

export const canonicalJson: CommandSpec = {
  name: 'canonical-json',
  summary: 'Read JSON on stdin, print its Matrix canonical JSON.',
  description: 'Floats, integers outside ±(2^53-1) and lone surrogates have no canonical form: they are reported with their place in the input.',
  examples: [`echo '{"b": 1, "a": [true]}' | fedpeer canonical-json`],
  async run({ io }) {
    const { canonicalJsonCommand } = await import('../../commands/json-tools.js');
    return canonicalJsonCommand(io);
  },
};

export const signJson: CommandSpec = {
  name: 'sign-json',
  summary: 'Read a JSON object on stdin, print it signed with every key in a signing key file.',
  options: {
    key: { type: 'string', value: 'FILE', description: "A signing key file in Synapse's format (required)." },
    'server-name': { type: 'string', value: 'NAME', description: 'The server name to sign as (required).' },
  },
  examples: [`echo '{"one": 1}' | fedpeer sign-json --key keys/signing.key --server-name example.org`],
  async run({ io, args }) {
    const { signJsonCommand } = await import('../../commands/json-tools.js');
    const key = args.string('key');
    const serverName = args.string('server-name');
    return signJsonCommand(io, { ...(key !== undefined ? { key } : {}), ...(serverName !== undefined ? { serverName } : {}) });
  },
};

export const verifyJson: CommandSpec = {
  name: 'verify-json',
  summary: 'Read a signed JSON object on stdin; exit 0 when the signature verifies, 1 with the reason when not.',
  options: {
    'server-name': { type: 'string', value: 'NAME', description: 'The signing server (required).' },
    'key-id': { type: 'string', value: 'ed25519:ID', description: 'The key id of the signature to check (required).' },
    'public-key': { type: 'string', value: 'BASE64', description: 'The Ed25519 public key, unpadded base64 (required).' },
  },
  examples: ['fedpeer verify-json --server-name example.org --key-id ed25519:a_AbCd --public-key XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI < signed.json'],
  async run({ io, args }) {
    const { verifyJsonCommand } = await import('../../commands/json-tools.js');
    const serverName = args.string('server-name');
    const keyId = args.string('key-id');
    const publicKey = args.string('public-key');
    return verifyJsonCommand(io, {
      ...(serverName !== undefined ? { serverName } : {}),
      ...(keyId !== undefined ? { keyId } : {}),
      ...(publicKey !== undefined ? { publicKey } : {}),
    });
  },
};
