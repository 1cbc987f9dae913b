// The probe report for people: the summary line, then each check with its
// verdict and reason, and for a failure what was sent and what came back.
import { describe } from './judge.js';
import type { CheckResult, Exchange, ProbeReport, Verdict } from './types.js';
import { GROUP_ORDER } from './types.js';

export const VERDICT_LABEL: Record<Verdict, string> = { pass: 'PASS', fail: 'FAIL', not_applicable: 'N/A ', could_not_run: 'SKIP' };

export function summaryLine(report: ProbeReport): string {
  const s = report.summary;
  return `fedpeer probe ${report.target} as ${report.origin}: ${s.pass} passed, ${s.fail} failed, ${s.not_applicable} not applicable, ${s.could_not_run} could not run (${(report.duration_ms / 1000).toFixed(1)} s)`;
}

export function requestLine(e: Exchange): string {
  const auth = e.request.authorization.length === 0 ? 'no Authorization' : e.request.authorization.map((a) => `Authorization: ${a}`).join(', ');
  const body = e.request.body_bytes !== undefined ? `, ${e.request.body_bytes}-byte body` : '';
  return `${e.request.method} ${e.request.path} (${auth}${body})`;
}

export function responseLine(e: Exchange): string {
  const r = e.response;
  if ('failure' in r) return describe(r);
  return `${describe(r)}${r.error ? `: ${r.error}` : !r.errcode && r.body ? `: ${r.body}` : ''}`;
}

function checkLines(c: CheckResult): string[] {
  const lines = [`  ${VERDICT_LABEL[c.verdict]}  ${c.id}  ${c.title}${c.requirement === 'should' ? ' (should)' : ''}`, `        ${c.reason}`];
  if (c.verdict === 'fail') {
    lines.push(`        expected: ${c.expected}`, `        spec: ${c.spec.section} <${c.spec.url}>`);
    for (const e of c.exchanges) {
      lines.push(`        - ${e.label}: ${e.finding}`, `          sent: ${requestLine(e)}`, `          got:  ${responseLine(e)}`);
    }
  }
  return lines;
}

export function formatTextReport(report: ProbeReport): string {
  const out = [summaryLine(report)];
  for (const group of GROUP_ORDER) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    out.push('', group);
    for (const c of checks) out.push(...checkLines(c));
  }
  out.push('', report.ok ? 'no check failed' : `${report.summary.fail} check(s) failed: ${report.checks.filter((c) => c.verdict === 'fail').map((c) => c.id).join(', ')}`);
  return out.join('\n');
}
