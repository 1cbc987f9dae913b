// The one error type outbound federation throws. A user debugging a
// federation setup needs to know where it broke (`step`) and which rule
// refused it (`check`), so both are fields and both lead the message.
import type { IncomingHttpHeaders } from 'node:http';

/** Where in the outbound path a failure happened. */
export type FederationStep =
  | 'server-name'
  | 'policy'
  | 'route'
  | 'well-known'
  | 'srv'
  | 'dns'
  | 'blocklist'
  | 'connect'
  | 'tls'
  | 'request'
  | 'response';

export interface FederationErrorDetails {
  /** The server name the request or resolution was for. */
  serverName?: string;
  /** `address:port` (IPv6 in brackets) of the target involved, if any. */
  target?: string;
  /** HTTP status of a non-2xx response. */
  status?: number;
  /** Parsed body of a non-2xx response (a Matrix error when the server sent one). */
  body?: unknown;
  /** Headers of a non-2xx response (`fedpeer request -v` shows them). */
  headers?: IncomingHttpHeaders;
  /** The resolution steps taken before the failure, for `fedpeer resolve`. */
  steps?: readonly unknown[];
  cause?: unknown;
}

export class FederationError extends Error {
  readonly step: FederationStep;
  /** The check that failed, a short stable token: `certificate-name`, `max-bytes`, `ip_range_blacklist`, ... */
  readonly check: string;
  readonly serverName?: string;
  readonly target?: string;
  readonly status?: number;
  readonly body?: unknown;
  readonly headers?: IncomingHttpHeaders;
  steps?: readonly unknown[];

  constructor(step: FederationStep, check: string, message: string, details: FederationErrorDetails = {}) {
    super(`${step}: ${check}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'FederationError';
    this.step = step;
    this.check = check;
    if (details.serverName !== undefined) this.serverName = details.serverName;
    if (details.target !== undefined) this.target = details.target;
    if (details.status !== undefined) this.status = details.status;
    if (details.body !== undefined) this.body = details.body;
    if (details.headers !== undefined) this.headers = details.headers;
    if (details.steps !== undefined) this.steps = details.steps;
  }
}

/** `1.2.3.4:8448`, `[::1]:8448`. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
