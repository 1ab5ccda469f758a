/**
 * A receiver whose time replies refused for their t1 or their timestamps use the nonce up (the
 * `time-refused-uses-nonce` break) takes none of the genuine answers that follow them: the cases
 * of §14.2 steps 4 and 6 catch it too, besides the break each names (helpers/conformance.ts).
 */
import { expect, it } from 'vitest';
import { runConformance } from '../src/conformance/kit.js';
import { simLauncher } from '../src/conformance/launchers.js';

it('time.t1_echo and time.impossible catch time-refused-uses-nonce', async () => {
  const report = await runConformance({
    receiverId: 'cf-refused-nonce',
    only: ['time.t1_echo', 'time.impossible'],
    launcher: simLauncher({ breaks: ['time-refused-uses-nonce'] }),
  });
  for (const id of ['time.t1_echo', 'time.impossible']) {
    const r = report.results.find((x) => x.id === id);
    expect(r?.outcome, `${id}: ${r?.reason}`).toBe('fail');
    expect(r?.reason).toMatch(/ran to 48 requests/);
  }
}, 90_000);
