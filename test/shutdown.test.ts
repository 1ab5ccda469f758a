/**
 * Stopping the controller closes every HTTP connection at once: a receiver that gave up a download
 * while its credentials were still being checked (a stop during its fetch) leaves a connection Node
 * counts as busy, and a restart must not wait for the idle timeout to let it go.
 */
import { describe, expect, it } from 'vitest';
import { startTestController } from './helpers/controller.js';
import { wav } from './helpers/sim-harness.js';

describe('controller shutdown', () => {
  it('is not held by a download the receiver abandoned', async () => {
    // An idle timeout far longer than the test's own: a held stop would run past it.
    const tc = await startTestController({ HTTP_IDLE_TIMEOUT_S: '120' });
    let stopped = false;
    try {
      await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
      const bundle = await tc.register('sd-01', 'thon-1');
      const up = await tc.upload(wav(440, 1000), 'a.wav');
      expect(up.status).toBe(201);
      const url = tc.controller.audio.signedUrl(up.audio.id, new Date(Date.now() + 60_000));
      const basic = Buffer.from(`sd-01:${bundle.mqtt.password}`).toString('base64');
      // Given up the moment the server has the request, while it checks the password; then the
      // server has dealt with it (its answer went nowhere).
      const abort = new AbortController();
      const handled = new Promise<void>((resolve) =>
        tc.controller.app.server.once('request', (_req, res) => {
          res.once('close', () => resolve());
          abort.abort();
        }),
      );
      const fetching = fetch(url, { headers: { authorization: `Basic ${basic}` }, signal: abort.signal });
      await expect(fetching).rejects.toThrow(/abort/i);
      await handled;
      await tc.stop();
      stopped = true;
    } finally {
      if (!stopped) await tc.stop();
    }
  }, 15_000);
});
