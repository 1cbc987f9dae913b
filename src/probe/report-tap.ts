// The probe report as TAP version 14, for CI runners that read TAP: one test
// point per check; not applicable and could not run are skips with their
// reason; a failure carries its details in a YAML block (JSON values are
// valid YAML).
import type { ProbeReport } from './types.js';
import { summaryLine } from './report-text.js';

/** A TAP description: no "#" (it starts a directive) and one line. */
function description(text: string): string {
  return text.replace(/[#\r\n]/g, ' ');
}

export function formatTapReport(report: ProbeReport): string {
  const lines = ['TAP version 14', `# ${description(summaryLine(report))}`, `1..${report.checks.length}`];
  report.checks.forEach((c, i) => {
    const name = `${i + 1} - ${description(`${c.id}: ${c.title}`)}`;
    if (c.verdict === 'pass') lines.push(`ok ${name}`);
    else if (c.verdict === 'fail') {
      lines.push(`not ok ${name}`, '  ---');
      const details: Record<string, unknown> = {
        reason: c.reason,
        requirement: c.requirement,
        expected: c.expected,
        spec: `${c.spec.section} ${c.spec.url}`,
        exchanges: c.exchanges.map((e) => ({ label: e.label, finding: e.finding, request: e.request, response: e.response })),
      };
      for (const [k, v] of Object.entries(details)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
      lines.push('  ...');
    } else {
      lines.push(`ok ${name} # SKIP ${description(`${c.verdict === 'not_applicable' ? 'not applicable' : 'could not run'}: ${c.reason}`)}`);
    }
  });
  return lines.join('\n');
}
