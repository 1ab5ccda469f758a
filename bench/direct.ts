/**
 * The "direct" reference rounds (`--direct`): a play command signed with the controller's own key
 * and published by the bench straight on `<root>/all/cmd`, as the controller would, but with no
 * HTTP request, no database and no delivery tracking. The receivers do exactly what they do for a
 * bulletin, so floor → direct → loalang splits the time between the MQTT path, the receivers' own
 * work (signature check, events, status) and the controller's bulletin work.
 */
import { randomUUID } from 'node:crypto';
import { type PlayCommand, topics } from '../src/contract/mqtt.js';
import { type SigningKey, seal } from '../src/contract/signing.js';
import { loadOrCreateSecrets } from '../src/secrets.js';
import { createSigningKeys } from '../src/signing-keys.js';
import type { AudioInfo } from './api.js';

/** The controller's command-signing key, from `<dataDir>/secrets.json` (the bench made that directory). */
export function controllerSigningKey(dataDir: string): SigningKey {
  const secrets = loadOrCreateSecrets(dataDir);
  return createSigningKeys(secrets.signingKeys, () => {
    throw new Error('the bench never changes the keys');
  }).commandKey();
}

/** A sealed emergency play command for the cached audio, with a fresh bulletin id. */
export function directCommand(
  key: SigningKey,
  audio: AudioInfo,
  httpUrl: string,
  round: number,
): { bulletinId: string; payload: string } {
  const now = Date.now();
  const bulletinId = randomUUID();
  const command: PlayCommand = {
    v: 1,
    type: 'play',
    id: randomUUID(),
    // Receivers compare seq only against stop commands, and the bench sends none.
    seq: 1_000_000 + round,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 10 * 60_000).toISOString(),
    bulletinId,
    priority: 'emergency',
    // Never fetched: every receiver has these bytes cached since the warm-up.
    audio: {
      url: `${httpUrl}/api/audio/${audio.id}/content`,
      sha256: audio.sha256,
      size: audio.size,
      durationMs: audio.durationMs,
      mime: audio.mime,
    },
    repeat: 1,
    gapMs: 0,
  };
  return { bulletinId, payload: seal(key, topics().allCommand(), command) };
}
