// Options several commands share, declared once so their help reads the same.
import { UsageError } from '../commands/io.js';
import type { OutboundOptions } from '../commands/outbound.js';
import type { OptionSpec, ParsedArgs } from './types.js';

/** --config, --dns-server, --ca-file, --allow-private: the commands that federate (resolve, check, keys, request). */
export const OUTBOUND_OPTIONS: Record<string, OptionSpec> = {
  config: {
    type: 'string',
    short: 'c',
    value: 'FILE',
    description: "A homeserver.yaml whose resolver, trust and address settings to use (default: the embedded defaults).",
  },
  'dns-server': { type: 'string', multiple: true, value: 'HOST:PORT', description: 'A DNS server for this run, replacing federation_dns_servers.' },
  'ca-file': { type: 'string', multiple: true, value: 'PEM', description: 'Trust the CAs in this file too (added to federation_custom_ca_list), e.g. keys/dev-ca.crt.' },
  'allow-private': {
    type: 'boolean',
    description: 'Dial loopback and private addresses for this run (ip_range_blacklist emptied, except 0.0.0.0 and ::), as a local sandbox needs.',
  },
};

export function outboundArgs(args: ParsedArgs): OutboundOptions {
  const dnsServers = args.list('dns-server');
  const caFiles = args.list('ca-file');
  const config = args.string('config');
  return {
    ...(dnsServers.length > 0 ? { dnsServers } : {}),
    ...(caFiles.length > 0 ? { caFiles } : {}),
    ...(config !== undefined ? { config } : {}),
    ...(args.flag('allow-private') ? { allowPrivate: true } : {}),
  };
}

/** pino's levels, in the order people think of them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export const LOG_LEVEL_OPTION: OptionSpec = {
  type: 'string',
  value: 'LEVEL',
  description: `How much to log: ${LOG_LEVELS.join(', ')} (also FEDPEER_LOG_LEVEL).`,
};

/** --log-level, else FEDPEER_LOG_LEVEL, else `fallback`; a level pino does not know is a usage error naming the valid ones. */
export function logLevel(args: ParsedArgs, env: NodeJS.ProcessEnv, fallback: string): string {
  const given = args.string('log-level');
  const [source, level] = given !== undefined ? ['--log-level', given] : env.FEDPEER_LOG_LEVEL ? ['FEDPEER_LOG_LEVEL', env.FEDPEER_LOG_LEVEL] : [undefined, fallback];
  if (source !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`${source}: unknown log level ${JSON.stringify(level)}; use one of ${LOG_LEVELS.join(', ')}`);
  }
  return level;
}
