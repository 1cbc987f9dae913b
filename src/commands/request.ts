// `fedpeer request DESTINATION PATH`: one federation request signed with
// X-Matrix as this server, with full resolution and TLS policy, printing
// status, headers (-v) and the JSON body, like Synapse's
// scripts-dev/federation_client.py.
import type { IncomingHttpHeaders } from 'node:http';
import { pino } from 'pino';
import type { SigningInput } from '../federation/client.js';
import { FederationError } from '../federation/errors.js';
import { isValidServerName } from '../matrix/server-name.js';
import { readSigningKeys } from './serve.js';
import { UsageError, type CommandIO } from './io.js';
import { createPeerServices, outboundConfig, xMatrixSigner, type OutboundOptions } from './outbound.js';

export interface RequestCommandOptions extends OutboundOptions {
  destination?: string;
  path?: string;
  method?: string;
  data?: string;
  verbose?: boolean;
  /** Send without an Authorization header. */
  unsigned?: boolean;
}

export async function requestCommand(io: CommandIO, opts: RequestCommandOptions): Promise<number> {
  if (!opts.destination || !opts.path) throw new UsageError('request needs DESTINATION and PATH: fedpeer request [--config FILE] [-X METHOD] [--data JSON] [-v] DESTINATION PATH');
  if (!isValidServerName(opts.destination)) throw new UsageError(`not a valid server name: ${JSON.stringify(opts.destination)}`);
  if (!opts.path.startsWith('/')) throw new UsageError(`PATH must start with "/": ${JSON.stringify(opts.path)}`);
  if (!opts.config && !opts.unsigned) throw new UsageError('request signs as the server of --config FILE (server_name and signing key); give --config, or --unsigned');
  let body: unknown;
  if (opts.data !== undefined) {
    try {
      body = JSON.parse(opts.data);
    } catch (e) {
      throw new UsageError(`--data is not valid JSON: ${(e as Error).message}`);
    }
  }
  const method = (opts.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  const config = await outboundConfig(opts);
  const signingKey = opts.unsigned ? undefined : (await readSigningKeys(config))[0];
  const peer = await createPeerServices({
    config,
    logger: pino({ level: 'silent' }),
    ...(opts.dnsServers ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
  });
  // Signed here rather than by the client, so -v can show the header exactly as sent.
  let authorization: string | undefined;
  const signer = signingKey ? xMatrixSigner(config.serverName, signingKey) : undefined;
  const sign = signer ? async (input: SigningInput) => (authorization = await signer(input)) : (false as const);
  const requestLine = (via: string) => `> ${method} ${opts.path} to ${opts.destination}${via}`;
  const sent = () => [authorization === undefined ? '> (no Authorization header: unsigned)' : `> Authorization: ${authorization}`];
  const headerLines = (headers: IncomingHttpHeaders) => Object.entries(headers).map(([k, v]) => `< ${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
  try {
    const r = await peer.client.request(opts.destination!, method, opts.path!, { sign, ...(body === undefined ? {} : { body }) });
    if (opts.verbose) {
      io.stderr([requestLine(` via ${r.target.address}:${r.target.port} (Host: ${r.target.host}, TLS name: ${r.target.tls_name})`), ...sent(), `< ${r.status}`, ...headerLines(r.headers)].join('\n'));
    } else {
      io.stderr(`${r.status}`);
    }
    io.stdout(JSON.stringify(r.body ?? null, null, 2));
    return 0;
  } catch (e) {
    if (!(e instanceof FederationError)) throw e;
    if (opts.verbose) io.stderr([requestLine(e.target ? ` via ${e.target}` : ''), ...sent()].join('\n'));
    if (e.status !== undefined) {
      io.stderr(opts.verbose ? [`< ${e.status} (${e.message})`, ...headerLines(e.headers ?? {})].join('\n') : `${e.status} (${e.message})`);
      io.stdout(JSON.stringify(e.body ?? null, null, 2));
    } else {
      io.stderr(`fedpeer request: ${e.message}`);
    }
    return 1;
  } finally {
    await peer.close();
  }
}
