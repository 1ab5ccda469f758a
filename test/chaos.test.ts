/**
 * The short, fixed-seed chaos run (issue 7, item 8): controller SIGKILLs and restarts, broker
 * restarts, links dropped, bulletins, cancels and stops; then the receivers' own histories and the
 * controller's records must agree. `npm run chaos` is the long version.
 */
import { describe, expect, it } from 'vitest';
import { runChaos } from '../scripts/chaos/chaos.js';
import { mosquittoAvailable } from './helpers/mosquitto.js';

describe('chaos (fixed seed)', () => {
  it('embedded broker: no double play, nothing lost, no stop or delivery shown otherwise than the receivers report', async () => {
    const r = await runChaos({ receivers: 6, operations: 16, seed: 11, broker: 'embedded', maxSeconds: 120 });
    expect(r.mismatches).toEqual([]);
    // The run did what it says: restarts happened and bulletins reached receivers.
    expect((r.ops['controller:kill'] ?? 0) + (r.ops['broker:restart'] ?? 0)).toBeGreaterThan(0);
    expect(r.plays).toBeGreaterThan(0);
  }, 150_000);

  it.skipIf(!mosquittoAvailable())(
    'Mosquitto: the same',
    async () => {
      const r = await runChaos({
        receivers: 6,
        operations: 16,
        seed: 11,
        broker: 'mosquitto',
        maxSeconds: 120,
      });
      expect(r.mismatches).toEqual([]);
      expect((r.ops['controller:kill'] ?? 0) + (r.ops['broker:restart'] ?? 0)).toBeGreaterThan(0);
      expect(r.plays).toBeGreaterThan(0);
    },
    150_000,
  );
});
