import { OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const resolve: CommandSpec = {
  name: 'resolve',
  summary: 'Resolve a Matrix server name as outbound federation does and print each step and the ordered targets.',
  description:
    'Well-known, SRV, AAAA/A, 8448: for each target, the address and port dialled, the Host header and the name the certificate must carry. Nothing is sent to the targets; the well-known fetch is the only HTTPS request (docs/FEDERATION.md). Exit 1 when resolution fails.',
  args: [{ name: 'NAME', what: 'a server name', required: true }],
  options: {
    json: { type: 'boolean', description: 'Print {targets, steps, ...} as JSON.' },
    ...OUTBOUND_OPTIONS,
  },
  examples: ['fedpeer resolve matrix.org', 'fedpeer resolve localhost:8448 --allow-private --ca-file keys/dev-ca.crt'],
  async run({ io, args }) {
    const { resolveCommand } = await import('../../commands/resolve.js');
    return resolveCommand(io, { name: args.positionals[0]!, json: args.flag('json'), ...outboundArgs(args) });
  },
};
