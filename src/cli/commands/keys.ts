import { OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const keys: CommandSpec = {
  name: 'keys',
  summary: "Fetch a server's key document and print every check (server_name, Ed25519 keys, valid_until_ts, signatures).",
  description: 'Directly, or through --notary. Exit 0 when valid keys were obtained.',
  args: [{ name: 'NAME', what: 'a server name', required: true }],
  options: {
    notary: { type: 'string', value: 'NAME', description: 'Ask this notary (POST /_matrix/key/v2/query) instead of the server itself.' },
    json: { type: 'boolean', description: 'Print the attempts and keys as JSON.' },
    ...OUTBOUND_OPTIONS,
  },
  examples: ['fedpeer keys matrix.org', 'fedpeer keys example.org --notary matrix.org --json'],
  async run({ io, args }) {
    const { keysCommand } = await import('../../commands/keys.js');
    const notary = args.string('notary');
    return keysCommand(io, { name: args.positionals[0]!, ...(notary !== undefined ? { notary } : {}), json: args.flag('json'), ...outboundArgs(args) });
  },
};
