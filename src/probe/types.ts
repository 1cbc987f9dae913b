// The probe's vocabulary: what a check is, what it reports, and the report
// `fedpeer probe --json` prints (docs/PROBE.md has the schema). Field names
// that reach the JSON are snake_case, like the check report's.

/** pass and fail judge the target; the other two say why there is no judgement. */
export type Verdict = 'pass' | 'fail' | 'not_applicable' | 'could_not_run';

/** The strength of the spec's words: a failed "should" still fails the run. */
export type Requirement = 'must' | 'should';

export type CheckGroup = 'identity' | 'auth' | 'errors' | 'outbound' | 'rooms';

export const GROUP_ORDER: readonly CheckGroup[] = ['identity', 'auth', 'errors', 'outbound', 'rooms'];

export interface SpecRef {
  /** "Server-Server API, Request Authentication" */
  section: string;
  url: string;
}

/** One request the probe sent, as the report shows it. */
export interface SentRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** The Authorization header values sent (none for an unsigned request). */
  authorization: string[];
  /** The body as sent, cut to 300 characters; its full size in body_bytes. */
  body?: string;
  body_bytes?: number;
}

/** What came back: a status, or why nothing did. */
export type ReceivedResponse =
  | {
      status: number;
      /** The Matrix error code, when the body is a Matrix error. */
      errcode?: string;
      error?: string;
      /** The body cut to 500 characters. */
      body?: string;
    }
  | { failure: string };

export interface Exchange {
  /** What this exchange tried, e.g. "query/profile" or "missing sig". */
  label: string;
  request: SentRequest;
  response: ReceivedResponse;
  /** The probe's reading of this exchange, one line. */
  finding: string;
}

/** What a check's run returns; the runner adds the identity fields and timing. */
export interface Outcome {
  verdict: Verdict;
  /** One line: why this verdict. */
  reason: string;
  exchanges?: Exchange[];
  /** What the probe's own listeners and DNS server saw (outbound checks). */
  observed?: Record<string, unknown>;
}

/** What a check is, as the registry defines it and the report repeats it. */
export interface CheckInfo {
  /** Stable: scripts and CI select and track checks by it. */
  id: string;
  group: CheckGroup;
  title: string;
  requirement: Requirement;
  spec: SpecRef;
  /** What the spec requires, in one sentence. */
  expected: string;
}

export interface CheckResult extends CheckInfo, Required<Pick<Outcome, 'verdict' | 'reason' | 'exchanges'>> {
  observed?: Record<string, unknown>;
  duration_ms: number;
}

export interface ProbeSummary {
  pass: number;
  fail: number;
  not_applicable: number;
  could_not_run: number;
}

export const REPORT_SCHEMA = 'fedpeer-probe/1';

export interface ProbeReport {
  schema: typeof REPORT_SCHEMA;
  fedpeer_version: string;
  /** The server probed. */
  target: string;
  /** The probe's identity (server_name of its config). */
  origin: string;
  started_at: string;
  duration_ms: number;
  /** True when no check failed. */
  ok: boolean;
  summary: ProbeSummary;
  checks: CheckResult[];
}
