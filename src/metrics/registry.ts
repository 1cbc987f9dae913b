// The Prometheus side of the metrics listener (`type: metrics`, as Synapse
// has): prom-client's registry with the process metrics it collects itself,
// plus fedpeer's own, read from the tallies and the certificate store at
// scrape time. Loaded by `serve` only when a metrics listener is configured.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CertificateEntry } from '../server/certificates.js';
import type { FedpeerTallies, Tally } from './tally.js';

export interface MetricsSources {
  tallies: FedpeerTallies;
  /** The certificates in service now (they change on reload). */
  certificates(): readonly CertificateEntry[];
  version: string;
  serverName: string;
}

export interface FedpeerMetrics {
  contentType: string;
  render(): Promise<string>;
}

function counterFrom<A, B>(registry: Registry, name: string, help: string, labels: [string, string], tally: Tally<A, B>, show: (a: A, b: B) => [string, string]): void {
  new Counter({
    name,
    help,
    labelNames: labels,
    registers: [registry],
    collect() {
      this.reset();
      for (const [a, b, n] of tally.entries()) {
        const [x, y] = show(a, b);
        this.inc({ [labels[0]]: x, [labels[1]]: y }, n);
      }
    },
  });
}

export function createMetrics(sources: MetricsSources): FedpeerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { tallies } = sources;
  new Gauge({ name: 'fedpeer_build_info', help: 'Always 1: the version and server name as labels.', labelNames: ['version', 'server_name'], registers: [registry] }).set(
    { version: sources.version, server_name: sources.serverName },
    1,
  );
  counterFrom(registry, 'fedpeer_http_requests_total', 'Inbound requests answered, by route pattern ("none" when no route matched) and status.', ['route', 'status'], tallies.requests, (route, status) => [route ?? 'none', String(status)]);
  counterFrom(registry, 'fedpeer_outbound_requests_total', 'Outbound federation requests, by result ("success", or the step that failed: dns, connect, tls, response, ...) and method.', ['result', 'method'], tallies.outbound, (result, method) => [result, method]);
  counterFrom(registry, 'fedpeer_key_fetches_total', "Fetches of other servers' keys, by source (direct, notary) and result (success, failure).", ['source', 'result'], tallies.keyFetches, (source, result) => [source, result]);
  counterFrom(registry, 'fedpeer_resolution_steps_total', 'Server name resolution steps of outbound requests, by step and cache (hit: answered from the well-known, SRV or address cache; miss: looked up).', ['step', 'cache'], tallies.resolution, (step, cache) => [step, cache]);
  new Gauge({
    name: 'fedpeer_tls_certificate_expiry_timestamp_seconds',
    help: 'When each served certificate expires (Unix seconds), per name it carries.',
    labelNames: ['name', 'file'],
    registers: [registry],
    collect() {
      this.reset();
      for (const entry of sources.certificates()) {
        for (const name of [...entry.dnsNames, ...entry.ipAddresses]) this.set({ name, file: entry.source.label }, Math.floor(entry.notAfter / 1000));
      }
    },
  });
  return { contentType: registry.contentType, render: () => registry.metrics() };
}
