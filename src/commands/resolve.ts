// `fedpeer resolve NAME`: runs server name resolution as a federation
// request would and prints every step (what was looked up, what was found,
// why a step was skipped) and the ordered targets. Nothing is sent to the
// targets themselves; the well-known fetch is the only HTTPS request made.
import { buildFederationParts } from '../federation/client.js';
import { FederationError } from '../federation/errors.js';
import { createServerNameResolver, formatTarget, type Resolution, type ResolutionStep } from '../federation/resolver.js';
import { routeReport, type RouteReport } from '../federation/routes.js';
import { UsageError, type CommandIO } from './io.js';
import { outboundConfig, type OutboundOptions } from './outbound.js';

export interface ResolveOptions extends OutboundOptions {
  name?: string;
  json?: boolean;
}

/** The JSON form, documented in docs/FEDERATION.md. */
export interface ResolveJson {
  server_name: string;
  delegated_server: string | null;
  targets: Array<{ address: string; port: number; host: string; tls_name: string; route: RouteReport | null }>;
  steps: Array<Required<Pick<ResolutionStep, 'step' | 'lookup' | 'outcome' | 'detail'>> & { cached: boolean }>;
  trust: string;
  error: { step: string; check: string; message: string } | null;
}

export async function resolveCommand(io: CommandIO, opts: ResolveOptions): Promise<number> {
  if (!opts.name) throw new UsageError('resolve needs a server name: fedpeer resolve NAME [--json] [--dns-server HOST:PORT] [--ca-file PEM] [--config FILE]');
  const config = await outboundConfig(opts);
  const parts = await buildFederationParts({
    config,
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
  });
  const resolver = createServerNameResolver({ dns: parts.dns, wellKnown: parts.wellKnown, addresses: parts.addresses, routes: parts.routes });
  let resolution: Resolution | undefined;
  let error: FederationError | undefined;
  try {
    resolution = await resolver.resolveServerName(opts.name);
  } catch (e) {
    if (!(e instanceof FederationError)) throw e;
    error = e;
  } finally {
    parts.transport.close();
  }
  const steps = (resolution?.steps ?? (error?.steps as ResolutionStep[] | undefined) ?? []).map((s) => ({
    step: s.step,
    lookup: s.lookup,
    outcome: s.outcome,
    detail: s.detail,
    cached: s.cached ?? false,
  }));
  const out: ResolveJson = {
    server_name: opts.name,
    delegated_server: resolution?.delegatedTo ?? null,
    // Exactly these fields, in this order: the documented JSON form.
    targets: (resolution?.targets ?? []).map((t) => ({ address: t.address, port: t.port, host: t.host, tls_name: t.tls_name, route: routeReport(t.route) })),
    steps,
    trust: parts.tls.describe(),
    error: error ? { step: error.step, check: error.check, message: error.message } : null,
  };
  if (opts.json) {
    io.stdout(JSON.stringify(out, null, 2));
  } else {
    io.stdout(formatText(out, opts.dnsServers?.length || config.federationDnsServers.length ? parts.dns.servers.join(', ') : `system resolvers ${parts.dns.servers.join(', ')}`));
  }
  return error ? 1 : 0;
}

function formatText(r: ResolveJson, dns: string): string {
  const lines = [`Resolving ${r.server_name} (DNS: ${dns})`, '', 'Steps:'];
  r.steps.forEach((s, i) => {
    lines.push(`  ${i + 1}. ${s.step}: ${s.lookup}: ${s.outcome}${s.cached ? ' (cached)' : ''}`);
    lines.push(`     ${s.detail}`);
  });
  lines.push('');
  if (r.targets.length > 0) {
    lines.push('Targets, tried in this order:');
    r.targets.forEach((t, i) => {
      const sni = t.tls_name.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(t.tls_name) ? 'no SNI' : `SNI ${t.tls_name}`;
      const route = t.route ? `  ${t.route.via === 'direct' ? 'direct' : `through ${t.route.via}`} (${t.route.rule}, trust: ${t.route.trust})` : '';
      lines.push(`  ${i + 1}. ${formatTarget(t)}  Host: ${t.host}  certificate for: ${t.tls_name} (${sni})${route}`);
    });
  }
  if (r.delegated_server) lines.push(`Delegated by well-known to ${r.delegated_server}.`);
  lines.push(`Trust: ${r.trust}`);
  if (r.error) lines.push('', `FAILED ${r.error.message}`);
  return lines.join('\n');
}
