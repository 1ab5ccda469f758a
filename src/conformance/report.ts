/**
 * The kit's report in three forms: a table for the terminal, the JSON the report object is, and a
 * self-contained HTML page (no scripts, no external files) a vendor can hand to a commune: the
 * verdict, what was tested against what, and each case with its clause, outcome and evidence.
 */
import type { CaseResult, ConformanceReport } from './types.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;

export function verdict(r: ConformanceReport): string {
  return r.summary.conformant ? 'CONFORMANT' : 'NOT CONFORMANT';
}

function counts(r: ConformanceReport): string {
  const { must, should } = r.summary;
  return (
    `MUST: ${must.pass} passed, ${must.fail} failed, ${must.skip} skipped; ` +
    `SHOULD: ${should.pass} passed, ${should.fail} failed, ${should.skip} skipped`
  );
}

/** A plain-text table (fits 120 columns), failures and skips with their reason under the line. */
export function terminalTable(r: ConformanceReport): string {
  const rows = r.results.map((c) => [MARK[c.outcome], c.level, c.section, c.id, `${c.durationMs} ms`]);
  const head = ['RESULT', 'LEVEL', 'SECTION', 'CASE', 'TIME'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const out = [
    `loalang conformance kit ${r.kit.version} — receiver ${r.receiver.id}` +
      (r.receiver.firmware ? ` (${r.receiver.firmware})` : '') +
      `, broker: ${r.broker}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
  ];
  for (const [i, c] of r.results.entries()) {
    out.push(line(rows[i]!));
    if (c.outcome !== 'pass' && c.reason) out.push(`      ↳ ${c.reason.slice(0, 400)}`);
  }
  out.push('', `${verdict(r)} — ${counts(r)}`);
  return out.join('\n');
}

export function jsonReport(r: ConformanceReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!,
  );

function caseRow(c: CaseResult): string {
  const evidence = c.evidence
    .map(
      (e) => `<li><span class="t">${e.atMs} ms</span> <span class="k">${e.kind}</span> ${esc(e.text)}</li>`,
    )
    .join('');
  return `<tr class="${c.outcome}">
  <td class="o">${MARK[c.outcome]}</td><td>${c.level}</td><td>${esc(c.section)}</td>
  <td><strong>${esc(c.title)}</strong><br><code>${esc(c.id)}</code>${
    c.reason ? `<p class="why">${esc(c.reason)}</p>` : ''
  }${evidence ? `<details><summary>Evidence (${c.evidence.length})</summary><ul>${evidence}</ul></details>` : ''}</td>
  <td class="n">${c.durationMs} ms</td>
</tr>`;
}

export function htmlReport(r: ConformanceReport): string {
  const ok = r.summary.conformant;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loalang conformance — ${esc(r.receiver.id)} — ${verdict(r)}</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1000px; padding: 24px; color: #1a1a1a; }
  h1 { font-size: 1.5rem; margin: 0 0 4px; }
  .verdict { display: inline-block; padding: 6px 14px; border-radius: 6px; font-weight: 700; font-size: 1.2rem;
             color: #fff; background: ${ok ? '#1b7a3a' : '#b3261e'}; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
  dt { color: #555; }
  table { border-collapse: collapse; width: 100%; margin-top: 16px; }
  th, td { border-bottom: 1px solid #ddd; padding: 8px 6px; text-align: left; vertical-align: top; }
  td.o { font-weight: 700; }
  tr.pass td.o { color: #1b7a3a; } tr.fail td.o { color: #b3261e; } tr.skip td.o { color: #8a6d00; }
  td.n { white-space: nowrap; color: #555; }
  .why { margin: 4px 0; color: #b3261e; } tr.skip .why { color: #8a6d00; }
  code { font-size: .85em; color: #444; }
  details ul { margin: 4px 0; padding-left: 18px; font-size: .9em; }
  .t { color: #777; } .k { font-variant: small-caps; color: #555; }
  @media print { details { display: none; } }
</style>
</head>
<body>
<h1>loalang receiver conformance report</h1>
<p class="verdict">${verdict(r)}</p>
<p>${esc(counts(r))}. A receiver is conformant when it passes every MUST case and none was skipped.</p>
<dl>
  <dt>Receiver</dt><dd>${esc(r.receiver.id)}</dd>
  <dt>Firmware</dt><dd>${esc(r.receiver.firmware ?? 'not reported')}</dd>
  <dt>Codecs</dt><dd>${esc(r.receiver.codecs?.join(', ') ?? 'not reported (MP3 assumed)')}</dd>
  <dt>Broker</dt><dd>${esc(r.broker)}</dd>
  <dt>Protocol</dt><dd>${esc(r.kit.protocol)}</dd>
  <dt>Kit</dt><dd>version ${esc(r.kit.version)}</dd>
  <dt>Run</dt><dd>${esc(r.startedAt)} — ${esc(r.finishedAt)}</dd>
</dl>
<table>
<thead><tr><th>Result</th><th>Level</th><th>Clause</th><th>Case</th><th>Time</th></tr></thead>
<tbody>
${r.results.map(caseRow).join('\n')}
</tbody>
</table>
</body>
</html>
`;
}
