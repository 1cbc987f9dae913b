import type { CommandSpec } from '../types.js';

export const generateConfig: CommandSpec = {
  name: 'generate-config',
  summary: 'Write a commented homeserver.yaml and a new signing key beside it.',
  description: "As Synapse's --generate-config does: the key is <host>.signing.key in the config's directory. Neither file is ever overwritten.",
  options: {
    'server-name': { type: 'string', value: 'NAME', description: 'The server name (required), e.g. example.org.' },
    out: { type: 'string', short: 'o', value: 'FILE', description: 'Where to write the config (default homeserver.yaml).' },
  },
  examples: ['fedpeer generate-config --server-name example.org --out /etc/fedpeer/homeserver.yaml'],
  async run({ io, args }) {
    const { generateConfigCommand } = await import('../../commands/generate-config.js');
    const serverName = args.string('server-name');
    const out = args.string('out');
    return generateConfigCommand(io, { ...(serverName !== undefined ? { serverName } : {}), ...(out !== undefined ? { out } : {}) });
  },
};
