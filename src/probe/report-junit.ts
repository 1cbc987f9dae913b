// The probe report as JUnit XML (the de facto schema Jenkins, GitLab and
// GitHub test reporters read): one testsuite per group, one testcase per
// check; not applicable and could not run are <skipped/> with their reason.
import type { CheckResult, ProbeReport } from './types.js';
import { GROUP_ORDER } from './types.js';
import { requestLine, responseLine } from './report-text.js';

// Characters XML 1.0 cannot carry at all, even escaped.
const INVALID_XML = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlEscape(text: string): string {
  return text.replace(INVALID_XML, '\uFFFD').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

function testcase(c: CheckResult): string {
  const open = `    <testcase classname="fedpeer.probe.${c.group}" name="${xmlEscape(`${c.id}: ${c.title}`)}" time="${seconds(c.duration_ms)}"`;
  if (c.verdict === 'pass') return `${open}/>`;
  if (c.verdict === 'fail') {
    const details = [
      c.reason,
      `expected (${c.requirement}): ${c.expected}`,
      `spec: ${c.spec.section} ${c.spec.url}`,
      ...c.exchanges.flatMap((e) => [`${e.label}: ${e.finding}`, `  sent: ${requestLine(e)}`, `  got:  ${responseLine(e)}`]),
    ].join('\n');
    return `${open}>\n      <failure message="${xmlEscape(c.reason)}" type="${c.requirement}">${xmlEscape(details)}</failure>\n    </testcase>`;
  }
  const why = `${c.verdict === 'not_applicable' ? 'not applicable' : 'could not run'}: ${c.reason}`;
  return `${open}>\n      <skipped message="${xmlEscape(why)}"/>\n    </testcase>`;
}

export function formatJunitReport(report: ProbeReport): string {
  const suites: string[] = [];
  for (const group of GROUP_ORDER) {
    const checks = report.checks.filter((c) => c.group === group);
    if (checks.length === 0) continue;
    const failures = checks.filter((c) => c.verdict === 'fail').length;
    const skipped = checks.filter((c) => c.verdict === 'not_applicable' || c.verdict === 'could_not_run').length;
    const time = checks.reduce((t, c) => t + c.duration_ms, 0);
    suites.push(
      `  <testsuite name="${group}" tests="${checks.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(time)}" timestamp="${report.started_at}">`,
      ...checks.map(testcase),
      '  </testsuite>',
    );
  }
  const s = report.summary;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(`fedpeer probe ${report.target} as ${report.origin}`)}" tests="${report.checks.length}" failures="${s.fail}" errors="0" skipped="${s.not_applicable + s.could_not_run}" time="${seconds(report.duration_ms)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
