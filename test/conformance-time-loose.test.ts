/**
 * A conformant receiver whose error bound never gets to 10 ms (its time requests take 45 ms up,
 * the answers come at once: the bound stays near 22 ms) runs every burst to 48 requests (§14.5).
 * Its burst length cannot show whether a refused reply leaves its request open: time.t1_echo and
 * time.impossible say so in their evidence and pass on the rest (the +10 s replies ignored).
 */
import { expect, it } from 'vitest';
import { runConformance } from '../src/conformance/kit.js';
import { simLauncher } from '../src/conformance/launchers.js';

it('time.t1_echo and time.impossible pass a receiver whose bursts always run to 48 requests', async () => {
  const report = await runConformance({
    receiverId: 'cf-loose-bound',
    only: ['time.t1_echo', 'time.impossible'],
    launcher: simLauncher({ receiver: { delay: { upMs: () => 45, downMs: () => 0 } } }),
  });
  for (const id of ['time.t1_echo', 'time.impossible']) {
    const r = report.results.find((x) => x.id === id);
    expect(r?.outcome, `${id}: ${r?.reason}`).toBe('pass');
    const notes = r?.evidence.map((e) => e.text).join('\n');
    expect(notes).toMatch(/its clean burst already ran to 48 requests/);
    expect(notes).toMatch(/not judged/);
  }
}, 120_000);
