// `fedpeer keys NAME [--notary NAME]`: fetch a server's keys (directly, or
// through a notary), run every check and print the result of each.
import { pino } from 'pino';
import type { TrustedKeyServer } from '../config/types.js';
import type { VerifiedServerKeys } from '../matrix/server-keys.js';
import { isValidServerName } from '../matrix/server-name.js';
import { formatTimestamp } from '../matrix/timestamp.js';
import { createKeyStore, type KeyAttempt } from '../federation/keys.js';
import { UsageError, type CommandIO } from './io.js';
import { createPeerServices, outboundConfig, type OutboundOptions } from './outbound.js';

export interface KeysOptions extends OutboundOptions {
  name?: string;
  notary?: string;
  json?: boolean;
}

function describeKeys(k: VerifiedServerKeys) {
  return {
    server_name: k.serverName,
    valid_until_ts: k.validUntilTs,
    trusted_until_ts: k.effectiveValidUntilTs,
    verify_keys: Object.fromEntries(Object.values(k.verifyKeys).map((v) => [v.keyId, v.key])),
    old_verify_keys: Object.fromEntries(Object.values(k.oldVerifyKeys).map((v) => [v.keyId, { key: v.key, expired_ts: v.expiredTs }])),
  };
}

export async function keysCommand(io: CommandIO, opts: KeysOptions): Promise<number> {
  if (!opts.name) throw new UsageError('keys needs a server name: fedpeer keys NAME [--notary NAME] [--json] [--config FILE]');
  if (!isValidServerName(opts.name)) throw new UsageError(`not a valid server name: ${JSON.stringify(opts.name)}`);
  if (opts.notary !== undefined && !isValidServerName(opts.notary)) throw new UsageError(`--notary: not a valid server name: ${JSON.stringify(opts.notary)}`);
  const config = await outboundConfig(opts);
  const logger = pino({ level: 'silent' });
  const peer = await createPeerServices({ config, logger, ...(opts.dnsServers ? { dnsServers: opts.dnsServers } : {}), ...(opts.systemCas ? { systemCas: opts.systemCas } : {}) });
  let attempts: KeyAttempt[] = [];
  let keys: VerifiedServerKeys | undefined;
  let source: string | undefined;
  try {
    if (!opts.notary) {
      const r = await peer.keyStore.getServerKeys(opts.name, { notaries: false });
      ({ attempts, keys, source } = r);
    } else {
      // The notary's own key: from trusted_key_servers when configured, else
      // fetched from the notary directly (and said so).
      let notary: TrustedKeyServer | undefined = config.trustedKeyServers.find((n) => n.serverName === opts.notary);
      if (!notary) {
        const own = await peer.keyStore.getServerKeys(opts.notary, { notaries: false });
        attempts.push(...own.attempts.map((a) => ({ ...a, source: `notary's own keys (${a.source}, not in trusted_key_servers)` })));
        if (own.keys) {
          notary = { serverName: opts.notary, acceptKeysInsecurely: false, verifyKeys: Object.fromEntries(Object.values(own.keys.verifyKeys).map((v) => [v.keyId, v.key])) };
        }
      }
      if (notary) {
        const store = createKeyStore({
          fetchers: { direct: async () => Promise.reject(new Error('not asked directly: --notary given')), notary: (n, body) => peer.client.request(n, 'POST', '/_matrix/key/v2/query', { body, sign: false }).then((r) => r.body) },
          trustedKeyServers: [notary],
          logger,
        });
        const r = await store.getServerKeys(opts.name);
        attempts.push(...r.attempts.filter((a) => a.source !== 'direct'));
        ({ keys, source } = r);
      }
    }
  } finally {
    await peer.close();
  }
  if (opts.json) {
    io.stdout(JSON.stringify({ server_name: opts.name, ok: keys !== undefined, source: source ?? null, keys: keys ? describeKeys(keys) : null, attempts }, null, 2));
  } else {
    for (const a of attempts) {
      io.stdout(`${a.ok ? 'ok  ' : 'FAIL'} ${a.source}`);
      for (const c of a.checks) io.stdout(`     ${c.ok ? '✓' : '✗'} ${c.check}: ${c.detail}`);
      if (a.error) io.stdout(`     ✗ ${a.error}`);
    }
    if (keys) {
      io.stdout(`\nkeys of ${keys.serverName} (from ${source}), valid until ${formatTimestamp(keys.validUntilTs)}, trusted until ${formatTimestamp(keys.effectiveValidUntilTs)}:`);
      for (const v of Object.values(keys.verifyKeys)) io.stdout(`  ${v.keyId} ${v.key}`);
      for (const v of Object.values(keys.oldVerifyKeys)) io.stdout(`  ${v.keyId} ${v.key} (old, expired ${formatTimestamp(v.expiredTs)})`);
    } else {
      io.stdout(`\nno valid keys for ${opts.name}`);
    }
  }
  return keys ? 0 : 1;
}
