/** Command bodies for tests that feed receivers hand-made (genuine, forged or replayed) commands. */
import { randomUUID } from 'node:crypto';
import type { PlayCommand } from '../../src/contract/mqtt.js';

/** A valid play command for one minute, of audio that does not exist; `over` replaces fields. */
export function playCommand(over: Partial<PlayCommand> = {}): PlayCommand {
  const now = Date.now();
  return {
    v: 1,
    type: 'play',
    id: randomUUID(),
    seq: 1,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 60_000).toISOString(),
    bulletinId: randomUUID(),
    priority: 'normal',
    audio: {
      url: 'http://127.0.0.1:9/none.mp3',
      sha256: 'a'.repeat(64),
      size: 10,
      durationMs: 1000,
      mime: 'audio/mpeg',
    },
    repeat: 1,
    gapMs: 0,
    ...over,
  };
}
