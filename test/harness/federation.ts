// Shared set-up for the outbound federation tests: a test DNS server, the
// test CA written to a file for federation_custom_ca_list, and a config whose
// blocklist lets the file's own block through (127.<b>.0.0/17) while keeping
// Synapse's default list, so 127.<b>.128.0 and up stay blocked.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { createFederationClient, type FederationClient, type FederationClientOptions } from '../../src/federation/client.js';
import { BLOCKS, type Area } from './addresses.js';
import { startDnsServer, type DnsServer } from './dns-server.js';
import { makeTestPki, type TestPki } from './test-ca.js';

export interface FederationWorld {
  pki: TestPki;
  dns: DnsServer;
  dir: string;
  /** File with the trusted test root. */
  caFile: string;
  /** `127.<b>.c.d` */
  addr(c: number, d: number): string;
  /** A config for outbound tests; `raw` adds or replaces homeserver.yaml keys. */
  config(raw?: Record<string, unknown>): Config;
  client(opts?: Partial<FederationClientOptions> & { raw?: Record<string, unknown> }): Promise<FederationClient>;
  close(): Promise<void>;
}

export async function federationWorld(area: Area): Promise<FederationWorld> {
  const b = BLOCKS[area];
  const pki = await makeTestPki();
  const dns = await startDnsServer({ address: `127.${b}.0.53` });
  const dir = mkdtempSync(join(tmpdir(), `fedpeer-${area}-`));
  const caFile = join(dir, 'test-root.pem');
  writeFileSync(caFile, pki.root.certPem);
  const clients: FederationClient[] = [];
  const config = (raw: Record<string, unknown> = {}): Config =>
    defaultConfig({
      baseDir: dir,
      raw: {
        federation_custom_ca_list: [caFile],
        federation_dns_servers: [dns.hostPort],
        ip_range_whitelist: [`127.${b}.0.0/17`, '::1/128'],
        ...raw,
      },
    });
  return {
    pki,
    dns,
    dir,
    caFile,
    addr: (c, d) => `127.${b}.${c}.${d}`,
    config,
    async client(opts = {}) {
      const { raw, ...rest } = opts;
      const client = await createFederationClient({ config: config(raw), dnsTimeoutMs: 300, ...rest });
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.close();
      await dns.close();
    },
  };
}

/** Deterministic [0, 1) numbers, for SRV weights and jitter. */
export { prng as seededRandom } from './random-json.js';
