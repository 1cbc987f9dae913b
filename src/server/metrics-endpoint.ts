// The `type: metrics` listener's answers: GET /metrics (and Synapse's
// /_synapse/metrics) with the Prometheus text, anything else a Matrix error.
// A plain node handler: a scrape every few seconds needs no router.
import type { RequestListener } from 'node:http';

export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export const METRICS_PATHS: ReadonlySet<string> = new Set(['/metrics', '/_synapse/metrics']);

function error(res: Parameters<RequestListener>[1], status: number, errcode: string, message: string): void {
  const body = JSON.stringify({ errcode, error: message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

export function metricsRequestListener(source: MetricsSource, onError: (err: unknown) => void): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (!METRICS_PATHS.has(path)) return error(res, 404, 'M_UNRECOGNIZED', 'Unrecognized request: metrics are at /metrics');
    if (req.method !== 'GET' && req.method !== 'HEAD') return error(res, 405, 'M_UNRECOGNIZED', 'Unrecognized request: use GET');
    source.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': source.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        onError(err);
        error(res, 500, 'M_UNKNOWN', 'Internal server error');
      },
    );
  };
}
