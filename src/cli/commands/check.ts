import { UsageError } from '../../commands/io.js';
import { OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const check: CommandSpec = {
  name: 'check',
  summary: 'Diagnose federation with a server: findings and fixes. Exit 0 only when federation works.',
  description:
    "Uses this server's resolver and trust settings: the well-known, both SRV records, every target's TCP connect, TLS handshake and certificate chain (the name it must carry, and why), the version and key endpoints, the client well-known. Prints the verdict, then each finding with its fix, then the details (docs/CHECK.md).",
  args: [{ name: 'NAME', what: 'a server name', required: true }],
  options: {
    json: { type: 'boolean', description: "Print fedpeer's report as JSON (the same as --format json)." },
    format: {
      type: 'string',
      value: 'FORMAT',
      description: "text (the default), json (fedpeer's report), or tester (matrix-federation-tester's /api/report JSON, for tools built for it).",
    },
    ...OUTBOUND_OPTIONS,
  },
  examples: ['fedpeer check matrix.org', 'fedpeer check localhost:8448 --allow-private --ca-file keys/dev-ca.crt', 'fedpeer check example.org --format tester'],
  async run({ io, args }) {
    const format = args.string('format') ?? (args.flag('json') ? 'json' : 'text');
    if (format !== 'text' && format !== 'json' && format !== 'tester') throw new UsageError(`--format: expected text, json or tester, got ${JSON.stringify(format)}`);
    if (args.flag('json') && format !== 'json') throw new UsageError(`--json and --format ${format} ask for different outputs; give one`);
    const { checkCommand } = await import('../../commands/check.js');
    return checkCommand(io, { name: args.positionals[0]!, format, ...outboundArgs(args) });
  },
};
