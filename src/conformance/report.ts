/**
 * The kit's report in three forms: a table for the terminal, the JSON the report object is, and a
 * self-contained HTML page (no scripts, no external files) a vendor can hand to a commune: the
 * verdict, what was tested against what, and each case with its clause, outcome and evidence.
 */
import type { CaseResult, ConformanceReport } from './types.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;
const MARK_VI = { pass: 'Đạt', fail: 'Không đạt', skip: 'Bỏ qua' } as const;

export function verdict(r: ConformanceReport): string {
  return r.summary.conformant ? 'CONFORMANT' : 'NOT CONFORMANT';
}

/** The verdict as a commune reads it: Vietnamese first. */
function verdictVi(r: ConformanceReport): string {
  return r.summary.conformant ? 'ĐẠT' : 'KHÔNG ĐẠT';
}

function countsVi(r: ConformanceReport): string {
  const { must, should } = r.summary;
  return (
    `Bắt buộc (MUST): ${must.pass} đạt, ${must.fail} không đạt, ${must.skip} bỏ qua; ` +
    `Khuyến nghị (SHOULD): ${should.pass} đạt, ${should.fail} không đạt, ${should.skip} bỏ qua`
  );
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
  <td class="o">${MARK_VI[c.outcome]}<br><span lang="en">${MARK[c.outcome]}</span></td><td>${c.level}</td><td>${esc(c.section)}</td>
  <td><strong>${esc(c.title)}</strong><br><code>${esc(c.id)}</code>${
    c.reason ? `<p class="why">${esc(c.reason)}</p>` : ''
  }${evidence ? `<details><summary>Bằng chứng · Evidence (${c.evidence.length})</summary><ul>${evidence}</ul></details>` : ''}</td>
  <td class="n">${c.durationMs} ms</td>
</tr>`;
}

export function htmlReport(r: ConformanceReport): string {
  const ok = r.summary.conformant;
  return `<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>loalang — ${esc(r.receiver.id)} — ${verdictVi(r)} · ${verdict(r)}</title>
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
  .en, [lang="en"] { color: #555; } h1 + .en { margin: 0 0 12px; } .verdict [lang="en"] { color: #fff; opacity: .85; }
  @media print { details { display: none; } }
</style>
</head>
<body>
<h1>Báo cáo kiểm tra tương thích cụm thu loalang</h1>
<p class="en">loalang receiver conformance report</p>
<p class="verdict">${verdictVi(r)} · <span lang="en">${verdict(r)}</span></p>
<p>${esc(countsVi(r))}. Cụm thu đạt khi qua mọi mục bắt buộc và không mục nào bị bỏ qua.</p>
<p class="en" lang="en">${esc(counts(r))}. A receiver is conformant when it passes every MUST case and none was skipped.</p>
<dl>
  <dt>Cụm thu · <span lang="en">Receiver</span></dt><dd>${esc(r.receiver.id)}</dd>
  <dt>Phần mềm · <span lang="en">Firmware</span></dt><dd>${esc(r.receiver.firmware ?? 'không báo · not reported')}</dd>
  <dt>Định dạng âm thanh · <span lang="en">Codecs</span></dt><dd>${esc(r.receiver.codecs?.join(', ') ?? 'không báo (coi là MP3) · not reported (MP3 assumed)')}</dd>
  <dt>Máy chủ MQTT · <span lang="en">Broker</span></dt><dd>${esc(r.broker)}</dd>
  <dt>Giao thức · <span lang="en">Protocol</span></dt><dd>${esc(r.kit.protocol)}</dd>
  <dt>Bộ kiểm tra · <span lang="en">Kit</span></dt><dd>version ${esc(r.kit.version)}</dd>
  <dt>Thời gian · <span lang="en">Run</span></dt><dd>${esc(r.startedAt)} — ${esc(r.finishedAt)}</dd>
</dl>
<table>
<thead><tr><th>Kết quả<br><span lang="en">Result</span></th><th>Mức<br><span lang="en">Level</span></th><th>Điều khoản<br><span lang="en">Clause</span></th><th>Mục kiểm tra<br><span lang="en">Case</span></th><th>Thời gian<br><span lang="en">Time</span></th></tr></thead>
<tbody>
${r.results.map(caseRow).join('\n')}
</tbody>
</table>
</body>
</html>
`;
}
