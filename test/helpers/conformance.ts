/**
 * Each conformance case against the reference simulator with the one behaviour the case checks
 * switched off (its `failsWith`, firmware-sim/breaks.ts): the case must fail, so no case passes
 * whatever the receiver does. Split over test files so that they run beside each other.
 */
import { expect, it } from 'vitest';
import { ALL_CASES } from '../../src/conformance/cases/index.js';
import { runConformance } from '../../src/conformance/kit.js';
import { simLauncher } from '../../src/conformance/launchers.js';

/** Registers one test per case of `part` (1-based) of `parts` equal shares of ALL_CASES. */
export function brokenCaseTests(part: number, parts: number): void {
  const size = Math.ceil(ALL_CASES.length / parts);
  for (const c of ALL_CASES.slice((part - 1) * size, part * size)) {
    it(`${c.id} catches ${c.failsWith}`, async () => {
      const report = await runConformance({
        receiverId: 'cf-broken',
        only: [c.id],
        launcher: simLauncher({ breaks: [c.failsWith] }),
      });
      const r = report.results.find((x) => x.id === c.id);
      expect(r?.outcome, r?.reason).toBe('fail');
      expect(report.summary.conformant).toBe(c.level !== 'MUST');
    }, 90_000);
  }
}
