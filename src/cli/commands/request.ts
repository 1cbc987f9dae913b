import { OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const request: CommandSpec = {
  name: 'request',
  summary: 'Send one federation request signed with X-Matrix as the server of --config and print the answer.',
  description:
    'Full resolution and TLS policy, as outbound federation. Prints the status (with -v the request line, the Authorization header sent and the response headers, for failures too) and the JSON body. Exit 1 on a non-2xx answer.',
  args: [
    { name: 'DESTINATION', what: 'a DESTINATION server name and a PATH', required: true },
    { name: 'PATH', what: 'a DESTINATION server name and a PATH', required: true },
  ],
  options: {
    request: { type: 'string', short: 'X', value: 'METHOD', description: 'The HTTP method (default GET, or POST with --data).' },
    data: { type: 'string', short: 'd', value: 'JSON', description: 'The JSON body to send.' },
    verbose: { type: 'boolean', short: 'v', description: 'Show the request line, the Authorization header sent and the response headers.' },
    unsigned: { type: 'boolean', description: 'Send without an Authorization header (no --config needed).' },
    ...OUTBOUND_OPTIONS,
  },
  examples: ["fedpeer request --config homeserver.yaml -v matrix.org '/_matrix/federation/v1/query/profile?user_id=@alice:matrix.org'"],
  async run({ io, args }) {
    const { requestCommand } = await import('../../commands/request.js');
    const method = args.string('request');
    const data = args.string('data');
    return requestCommand(io, {
      destination: args.positionals[0]!,
      path: args.positionals[1]!,
      ...(method !== undefined ? { method } : {}),
      ...(data !== undefined ? { data } : {}),
      verbose: args.flag('verbose'),
      unsigned: args.flag('unsigned'),
      ...outboundArgs(args),
    });
  },
};
