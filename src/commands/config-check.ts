// `fedpeer config check FILE`: validates a configuration and prints what
// would be served — names, certificates by SNI with their expiry, the
// well-known documents, listeners — without binding anything. The same
// functions `serve` uses decide each answer, so what it prints is what serve
// would do.
import type * as tls from 'node:tls';
import { describeTypo, diagnoseConfigFile } from '../config/diagnose.js';
import type { SigningKey } from '../matrix/signing-key.js';
import { readCertificateFiles } from '../server/certificate-files.js';
import { expiryWarning, uncoveredHosts, type CertificateEntry } from '../server/certificates.js';
import { effectiveListeners, SERVED_TYPES, speaksTls } from '../server/listeners.js';
import { clientWellKnown, serverWellKnown, supportWellKnown } from '../server/routes/well-known.js';
import { expectedHosts, operatorCertificateFiles, readSigningKeys } from './serve.js';
import { UsageError, type CommandIO } from './io.js';

const DAY = 86_400_000;

export async function configCheckCommand(io: CommandIO, opts: { file?: string; json?: boolean; now?: number }): Promise<number> {
  if (!opts.file) throw new UsageError('config check needs a file: fedpeer config check homeserver.yaml');
  const now = opts.now ?? Date.now();
  const diagnosis = await diagnoseConfigFile(opts.file);
  const warnings: string[] = diagnosis.typos.map(describeTypo);
  const errors: string[] = diagnosis.errors.map((e) => e.message);
  let keys: SigningKey[] = [];
  if (diagnosis.config) {
    try {
      keys = await readSigningKeys(diagnosis.config);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const config = diagnosis.config;
  if (config === undefined || errors.length > 0) {
    if (opts.json) {
      io.stdout(JSON.stringify({ ok: false, file: opts.file, server_name: config?.serverName ?? null, warnings, errors }, null, 2));
    } else {
      io.stdout([`${opts.file}: ERRORS (${errors.length})`, ...errors.map((e) => `error: ${e}`), ...warnings.map((w) => `warning: ${w}`)].join('\n'));
    }
    return 1;
  }
  const minVersion: tls.SecureVersion = config.tlsMinimumVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
  const certificates: Array<{ key: string; file: string; names: string[]; notAfter: string; daysLeft: number; default: boolean }> = [];
  const entries: CertificateEntry[] = [];
  for (const files of operatorCertificateFiles(config)) {
    try {
      const entry = await readCertificateFiles(files, { minVersion, now });
      entries.push(entry);
      const warning = expiryWarning(entry, now);
      if (warning) warnings.push(`${files.key}: ${warning}`);
      certificates.push({
        key: files.key,
        file: files.certificatePath,
        names: [...entry.dnsNames, ...entry.ipAddresses],
        notAfter: new Date(entry.notAfter).toISOString(),
        daysLeft: Math.floor((entry.notAfter - now) / DAY),
        default: entries.length === 1,
      });
    } catch (e) {
      errors.push(`${files.key}: ${(e as Error).message}`);
    }
  }
  const listeners = effectiveListeners(config);
  if (listeners.some(speaksTls) && entries.length > 0) {
    for (const host of uncoveredHosts(entries, expectedHosts(config))) warnings.push(`no certificate covers ${host} (the host of server_name or public_baseurl)`);
  }
  if (listeners.some(speaksTls) && entries.length === 0 && !config.acme.enabled) errors.push('a listener has tls: true but no certificate is configured');
  const report = {
    ok: errors.length === 0,
    file: opts.file,
    server_name: config.serverName,
    signing_keys: keys.map((k) => ({ key_id: k.keyId, public_key: k.publicKeyBase64 })),
    old_verify_keys: Object.keys(config.oldSigningKeys),
    key_refresh_interval_ms: config.keyRefreshIntervalMs,
    certificates,
    acme: config.acme.enabled ? { directory_url: config.acme.directoryUrl, domains: config.acme.domains, storage_dir: config.acme.storageDir } : null,
    well_known: {
      server: serverWellKnown(config) ?? null,
      client: clientWellKnown(config) ?? null,
      support: supportWellKnown(config) ?? null,
    },
    listeners: listeners.map((l) => ({
      type: l.type,
      served: SERVED_TYPES.has(l.type),
      where: l.kind === 'unix' ? l.path : l.bindAddresses.map((a) => `${a.includes(':') ? `[${a}]` : a}:${l.port}`),
      tls: speaksTls(l),
      x_forwarded: l.xForwarded,
      resources: l.resources.flatMap((r) => r.names),
    })),
    routes: config.federationRoutes.map((r, i) => ({
      rule: `federation_routes[${i}]`,
      match: r.match,
      via: r.via.kind === 'direct' ? 'direct' : r.via.display,
      trust: r.trust,
      pins: r.pins.length,
      isolate: r.isolate,
    })),
    ignored_keys: config.ignoredKeys,
    warnings,
    errors,
  };
  if (opts.json) {
    io.stdout(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  const lines = [
    `${opts.file}: ${report.ok ? 'OK' : 'ERRORS'}`,
    `server_name ${config.serverName}`,
    `signing keys: ${report.signing_keys.map((k) => `${k.key_id} (${k.public_key})`).join(', ')}${report.old_verify_keys.length ? `; old: ${report.old_verify_keys.join(', ')}` : ''}`,
    '',
    'certificates (chosen by SNI; the first is the default for clients without SNI):',
    ...(certificates.length ? certificates.map((c) => `  ${c.default ? '*' : ' '} ${c.names.join(', ')}  until ${c.notAfter} (${c.daysLeft} days)  ${c.file}`) : ['  none']),
    ...(report.acme ? [`  ACME: ${report.acme.domains.join(', ') || '(domains derived at start)'} from ${report.acme.directory_url}, stored in ${report.acme.storage_dir}`] : []),
    '',
    'well-known:',
    `  /.well-known/matrix/server  ${report.well_known.server ? JSON.stringify(report.well_known.server) : '404 (not served)'}`,
    `  /.well-known/matrix/client  ${report.well_known.client ? JSON.stringify(report.well_known.client) : '404 (no public_baseurl)'}`,
    `  /.well-known/matrix/support ${report.well_known.support ? JSON.stringify(report.well_known.support) : '404 (no well_known_support)'}`,
    '',
    'listeners:',
    ...report.listeners.map((l) =>
      l.served ? `  ${l.tls ? 'https' : 'http '} ${[l.where].flat().join(', ')}  ${l.type === 'acme' ? 'ACME http-01' : l.type === 'metrics' ? 'metrics (/metrics)' : l.type === 'control' ? 'control API (docs/CONTROL.md)' : l.resources.join(', ')}${l.x_forwarded ? '  (x_forwarded)' : ''}` : `  skipped: type ${l.type} is not served by fedpeer`,
    ),
    ...(report.routes.length
      ? ['', 'outbound routes (first match wins; other names direct):', ...report.routes.map((r) => `  ${r.rule} ${r.match.join(', ')} -> ${r.via}, trust ${r.trust}${r.pins ? ` (${r.pins} pin${r.pins === 1 ? '' : 's'})` : ''}${r.isolate ? ', isolated' : ''}`)]
      : []),
    ...(config.ignoredKeys.length ? ['', `homeserver.yaml keys fedpeer does not use: ${config.ignoredKeys.join(', ')}`] : []),
    ...warnings.map((w) => `warning: ${w}`),
    ...errors.map((e) => `error: ${e}`),
  ];
  io.stdout(lines.join('\n'));
  return report.ok ? 0 : 1;
}
