import type { CommandSpec } from '../types.js';

export const keygen: CommandSpec = {
  name: 'keygen',
  summary: "Write a new Ed25519 signing key in Synapse's format.",
  description: 'The file is created with mode 0600 and never overwrites an existing one. Without --out the key is printed.',
  options: {
    out: { type: 'string', short: 'o', value: 'PATH', description: 'Write the key to PATH (directories are created).' },
  },
  examples: ['fedpeer keygen --out keys/example.org.signing.key'],
  async run({ io, args }) {
    const { keygenCommand } = await import('../../commands/keygen.js');
    const out = args.string('out');
    return keygenCommand(io, out !== undefined ? { out } : {});
  },
};
