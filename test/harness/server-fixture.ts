// Starts a real fedpeer (startServer, in-process) on a test address with a
// certificate from the test PKI, a fresh signing key and a temp directory.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createLogger, type AccessLog } from '../../src/logger.js';
import { defaultConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { formatSigningKeys, generateSigningKey, type SigningKey } from '../../src/matrix/signing-key.js';
import { startServer, type RunningServer } from '../../src/commands/serve.js';
import { makeTestPki, type TestPki } from './test-ca.js';

export interface Fixture {
  server: RunningServer;
  config: Config;
  key: SigningKey;
  pki: TestPki;
  dir: string;
  logLines: () => Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A logger as the CLI makes it (createLogger, fast access lines included) whose lines are kept in memory. */
export function captureLogger(level = 'info'): { logger: Logger; accessLog: AccessLog; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  let text = '';
  const { logger, accessLog } = createLogger(level, {
    write(line) {
      text += line;
      return true;
    },
  });
  return {
    logger,
    accessLog,
    raw: () => text,
    lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export async function startFixture(opts: {
  address: string;
  serverName: string;
  certNames: string[];
  port?: number;
  raw?: Record<string, unknown>;
  now?: () => number;
}): Promise<Fixture> {
  const pki = await makeTestPki();
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-test-'));
  const key = generateSigningKey();
  const leaf = await pki.leaf(opts.certNames);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([key]), { mode: 0o600 });
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem, { mode: 0o600 });
  const config = defaultConfig({
    baseDir: dir,
    raw: {
      server_name: opts.serverName,
      signing_key_path: 'signing.key',
      tls_certificate_path: 'tls.crt',
      tls_private_key_path: 'tls.key',
      listeners: [{ port: opts.port ?? 8448, bind_addresses: [opts.address], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] }],
      ...opts.raw,
    },
  });
  const log = captureLogger();
  const server = await startServer(config, { logger: log.logger, accessLog: log.accessLog, ...(opts.now ? { now: opts.now } : {}) });
  return { server, config, key, pki, dir, logLines: log.lines, close: () => server.close(1000) };
}
