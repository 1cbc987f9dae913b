// What every outbound command (resolve, keys, request, check) and `serve`
// share: the config with the command line's overrides, and the federation
// client plus key store built from it. The CLI is where server/ and
// federation/ meet (DESIGN.md: services are handed in).
import { join, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { ALWAYS_BLOCKED } from '../config/defaults.js';
import { loadConfig, defaultConfig } from '../config/load.js';
import { isDnsServer } from '../config/net.js';
import type { Config } from '../config/types.js';
import { createFederationClient, type FederationClient, type RequestSigner } from '../federation/client.js';
import { createKeyStore, KEY_DOCUMENT_MAX_BYTES, type KeyFetchers, type KeyStore } from '../federation/keys.js';
import { FederationError } from '../federation/errors.js';
import { countResolution, type FedpeerTallies } from '../metrics/tally.js';
import { buildXMatrixHeader } from '../matrix/signing.js';
import type { SigningKey } from '../matrix/signing-key.js';
import { UsageError } from './io.js';

export interface OutboundOptions {
  config?: string;
  /** `federation_dns_servers` for this run. */
  dnsServers?: string[];
  /** Extra federation_custom_ca_list files. */
  caFiles?: string[];
  /** The "system" CA store, for tests. */
  systemCas?: readonly string[];
  /** Dial loopback and private addresses for this run: only Synapse's always-blocked 0.0.0.0 and :: stay blocked. */
  allowPrivate?: boolean;
}

export async function outboundConfig(opts: OutboundOptions): Promise<Config> {
  const config = opts.config ? await loadConfig(opts.config, { checkFiles: false }) : defaultConfig({ baseDir: process.cwd() });
  if (opts.allowPrivate) config.ipRangeBlacklist = [...ALWAYS_BLOCKED];
  if (opts.caFiles && opts.caFiles.length > 0) config.federationCustomCaList = [...config.federationCustomCaList, ...opts.caFiles.map((f) => resolvePath(f))];
  for (const s of opts.dnsServers ?? []) {
    if (!isDnsServer(s)) throw new UsageError(`--dns-server: expected an IP address with an optional port ("127.0.0.1:5353", "[::1]:53"), got ${JSON.stringify(s)}`);
  }
  return config;
}

/** Signs every outbound request as `origin` with the first signing key (X-Matrix). */
export function xMatrixSigner(origin: string, key: SigningKey): RequestSigner {
  return (input) => buildXMatrixHeader({ ...input, origin }, key);
}

export interface PeerServices {
  client: FederationClient;
  keyStore: KeyStore;
  close(): Promise<void>;
}

/** A trusted notary's answer for one server. */
const NOTARY_ANSWER_MAX_BYTES = 1024 * 1024;

export async function createPeerServices(opts: {
  config: Config;
  logger: Logger;
  signingKey?: SigningKey;
  dnsServers?: readonly string[];
  systemCas?: readonly string[];
  now?: () => number;
  /** Long-running (serve): persist the key cache under data_dir and back off from failing destinations. */
  longRunning?: boolean;
  /** Use and update the key cache under data_dir without the rest of longRunning (one-shot commands). */
  persistKeyCache?: boolean;
  /** Count outbound requests, their resolution steps and key fetches (the metrics listener's). */
  tallies?: FedpeerTallies;
}): Promise<PeerServices> {
  const { config } = opts;
  const built = await createFederationClient({
    config,
    ...(opts.signingKey ? { sign: xMatrixSigner(config.serverName, opts.signingKey) } : {}),
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.longRunning ? { backoff: {} } : {}),
  });
  const client = opts.tallies ? countedClient(built, opts.tallies) : built;
  const fetchers: KeyFetchers = {
    direct: async (server, signal) => (await client.request(server, 'GET', '/_matrix/key/v2/server', { sign: false, maxBytes: KEY_DOCUMENT_MAX_BYTES, ...(signal ? { signal } : {}) })).body,
    notary: async (notary, body, signal) =>
      (await client.request(notary, 'POST', '/_matrix/key/v2/query', { body, sign: false, maxBytes: NOTARY_ANSWER_MAX_BYTES, ...(signal ? { signal } : {}) })).body,
  };
  const keyStore = createKeyStore({
    fetchers: opts.tallies ? countedFetchers(fetchers, opts.tallies) : fetchers,
    trustedKeyServers: config.trustedKeyServers,
    logger: opts.logger,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.longRunning || opts.persistKeyCache ? { cacheFile: join(config.dataDir, 'server-keys.json') } : {}),
  });
  return {
    client,
    keyStore,
    async close() {
      await keyStore.close();
      client.close();
    },
  };
}

/** The client, with each request's result and resolution steps counted. */
function countedClient(client: FederationClient, tallies: FedpeerTallies): FederationClient {
  return {
    ...client,
    async request(serverName, method, path, options) {
      try {
        const response = await client.request(serverName, method, path, options);
        tallies.outbound.add('success', method);
        countResolution(tallies.resolution, response.resolution.steps);
        return response;
      } catch (e) {
        const err = e as FederationError;
        tallies.outbound.add(e instanceof FederationError ? err.step : 'error', method);
        countResolution(tallies.resolution, err.steps);
        throw e;
      }
    },
  };
}

function countedFetchers(fetchers: KeyFetchers, tallies: FedpeerTallies): KeyFetchers {
  const counted =
    <A extends unknown[]>(source: string, fetch: (...args: A) => Promise<unknown>) =>
    async (...args: A): Promise<unknown> => {
      try {
        const body = await fetch(...args);
        tallies.keyFetches.add(source, 'success');
        return body;
      } catch (e) {
        tallies.keyFetches.add(source, 'failure');
        throw e;
      }
    };
  return { direct: counted('direct', fetchers.direct), notary: counted('notary', fetchers.notary) };
}
