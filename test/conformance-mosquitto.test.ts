/**
 * The conformance kit against the reference simulator on a Mosquitto the kit starts itself, with
 * the password and ACL files loalang writes (issue 11: every MUST passes on Mosquitto too).
 */
import { describe, expect, it } from 'vitest';
import { runConformance } from '../src/conformance/kit.js';
import { simLauncher } from '../src/conformance/launchers.js';
import { mosquittoAvailable } from './helpers/mosquitto.js';

describe.skipIf(!mosquittoAvailable())('conformance kit on Mosquitto', () => {
  it('firmware-sim passes every case', async () => {
    const report = await runConformance({
      receiverId: 'cf-sim-02',
      broker: 'mosquitto',
      launcher: simLauncher(),
    });
    expect(report.broker).toMatch(/Mosquitto/);
    expect(
      report.results
        .filter((c) => c.outcome !== 'pass')
        .map((c) => `${c.id}: ${c.outcome} ${c.reason ?? ''}`),
    ).toEqual([]);
    expect(report.summary.conformant).toBe(true);
  }, 400_000);
});
