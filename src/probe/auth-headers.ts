// The Authorization headers of the request-authentication checks: one
// correctly signed request and each way of getting it wrong. Pure: the keys
// (the probe's, a forger's, unpublished ones) are handed in.
import { buildXMatrixHeader } from '../matrix/signing.js';
import type { SigningKey } from '../matrix/signing-key.js';

export interface SignedRequest {
  method: string;
  /** Path and query, exactly as sent. */
  uri: string;
  /** The parsed JSON body, when there is one. */
  content?: unknown;
}

export interface HeaderKeys {
  /** The probe's identity (server_name of its config). */
  origin: string;
  /** The target's server name. */
  destination: string;
  /** The key the probe published for this run. */
  key: SigningKey;
  /** Same key id as `key`, different key: its signatures are forgeries. */
  forger: SigningKey;
  /** A key whose id the probe never published. */
  unpublished: SigningKey;
  /** An origin whose keys cannot be fetched, and a key for it. */
  unfetchableOrigin: string;
  unfetchableKey: SigningKey;
}

/** A server name that is not the target, for signatures meant for someone else. */
export const OTHER_DESTINATION = 'destination.invalid';

function sign(req: SignedRequest, origin: string, destination: string, key: SigningKey): string {
  return buildXMatrixHeader({ method: req.method, uri: req.uri, origin, destination, ...(req.content !== undefined ? { content: req.content } : {}) }, key);
}

/** Drops the destination parameter from a header buildXMatrixHeader made. */
function withoutDestination(header: string): string {
  return header.replace(/,destination="(?:[^"\\]|\\.)*"/, '');
}

export function signedHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign(req, k.origin, k.destination, k.key);
}

export function forgedHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign(req, k.origin, k.destination, k.forger);
}

/** Signed over the same request with something else in the query. */
export function otherUriHeader(req: SignedRequest, k: HeaderKeys): string {
  const uri = `${req.uri}${req.uri.includes('?') ? '&' : '?'}probe=other`;
  return sign({ ...req, uri }, k.origin, k.destination, k.key);
}

export function otherMethodHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign({ ...req, method: req.method === 'GET' ? 'POST' : 'GET' }, k.origin, k.destination, k.key);
}

/** Signed over another body; undefined for a request without one. */
export function otherBodyHeader(req: SignedRequest, k: HeaderKeys): string | undefined {
  if (req.content === undefined || typeof req.content !== 'object' || req.content === null) return undefined;
  return sign({ ...req, content: { ...(req.content as Record<string, unknown>), probe: 'other' } }, k.origin, k.destination, k.key);
}

/** Names another server as destination, and is signed for it. */
export function wrongDestinationHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign(req, k.origin, OTHER_DESTINATION, k.key);
}

/** No destination parameter, and signed for another server. */
export function missingDestinationHeader(req: SignedRequest, k: HeaderKeys): string {
  return withoutDestination(sign(req, k.origin, OTHER_DESTINATION, k.key));
}

/** No destination parameter, signed for the target: what servers older than the parameter send. */
export function omittedDestinationHeader(req: SignedRequest, k: HeaderKeys): string {
  return withoutDestination(signedHeader(req, k));
}

export function unknownKeyHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign(req, k.origin, k.destination, k.unpublished);
}

export function unfetchableOriginHeader(req: SignedRequest, k: HeaderKeys): string {
  return sign(req, k.unfetchableOrigin, k.destination, k.unfetchableKey);
}

/** Headers no parser should accept, each with what is wrong with it. */
export function malformedHeaders(req: SignedRequest, k: HeaderKeys): Array<{ label: string; header: string }> {
  const good = signedHeader(req, k);
  const param = (name: string): string => new RegExp(`${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(good)![1]!;
  const origin = param('origin');
  const key = param('key');
  const sig = param('sig');
  const destination = `destination="${param('destination')}"`;
  return [
    { label: 'no parameters', header: 'X-Matrix' },
    { label: 'no sig', header: `X-Matrix origin="${origin}",${destination},key="${key}"` },
    { label: 'no key', header: `X-Matrix origin="${origin}",${destination},sig="${sig}"` },
    { label: 'no origin', header: `X-Matrix ${destination},key="${key}",sig="${sig}"` },
    { label: 'unterminated quote', header: `X-Matrix origin="${origin},${destination},key="${key}",sig="${sig}` },
    { label: 'origin not a server name', header: `X-Matrix origin="not a server name!",${destination},key="${key}",sig="${sig}"` },
    { label: 'sig not base64', header: `X-Matrix origin="${origin}",${destination},key="${key}",sig="!!not*base64!!"` },
    { label: 'key id without algorithm', header: `X-Matrix origin="${origin}",${destination},key="${k.key.version}",sig="${sig}"` },
    { label: 'another scheme', header: `Bearer ${sig}` },
  ];
}
