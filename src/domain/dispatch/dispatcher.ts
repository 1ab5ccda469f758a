/**
 * Where play and stop commands are built, signed and published.
 *
 * A bulletin to all receivers is one publish on the all-receiver topic; to villages, one publish per
 * zone topic; to single receivers, one per receiver topic. A resend to one receiver (after it
 * reconnects, or when it has not acknowledged) goes on its own topic with the same command id.
 */
import type { Command, PlayCommand, StopCommand, Topics } from '../../contract/mqtt.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import type { Publisher } from '../../mqtt/client.js';
import type { Sequence } from '../../storage/sequence.js';
import type { AudioRecord } from '../audio/library.js';
import type { BulletinRow, BulletinTarget } from '../bulletins/repo.js';

/** Extra time the audio URL stays valid after the command expires, so a download begun in time can finish. */
const URL_GRACE_MS = 15 * 60 * 1000;

export interface Dispatcher {
  /** The signed payload of a bulletin's play command (the same bytes for every send). */
  playPayload(b: BulletinRow, audio: AudioRecord, signedUrl: (expiresAt: Date) => string): string;
  /** Publishes a payload to the topics that cover `target`; explicit receivers already covered are skipped. */
  sendToTarget(payload: string, target: BulletinTarget, explicit: string[]): Promise<void>;
  sendToReceiver(payload: string, receiverId: string): Promise<void>;
  /**
   * Builds and publishes a stop: for one bulletin, or everything in scope when `bulletinId` is
   * absent. `sent` settles when the broker acknowledged it (it may wait for a reconnection).
   */
  stop(
    target: BulletinTarget,
    opts: { bulletinId?: string; expiresAt: Date },
  ): { command: StopCommand; payload: string; sent: Promise<void> };
}

export function createDispatcher(deps: {
  publisher: Publisher;
  topics: Topics;
  signingKey: SigningKey;
  sequence: Sequence;
}): Dispatcher {
  const { publisher, topics: t } = deps;
  const cmd = { qos: 1 as const, retain: false };

  async function sendToTarget(payload: string, target: BulletinTarget, explicit: string[]): Promise<void> {
    const sends: Promise<void>[] = [];
    if (target.all) {
      sends.push(publisher.publish(t.allCommand(), payload, cmd));
    } else {
      for (const z of target.zones ?? []) sends.push(publisher.publish(t.zoneCommand(z), payload, cmd));
      for (const r of explicit) sends.push(publisher.publish(t.receiverCommand(r), payload, cmd));
    }
    await Promise.all(sends);
  }

  return {
    playPayload(b, audio, signedUrl) {
      const expires = new Date(b.expiresAt);
      const command: PlayCommand = {
        v: 1,
        type: 'play',
        id: b.commandId,
        seq: b.seq,
        issuedAt: b.createdAt,
        expiresAt: b.expiresAt,
        bulletinId: b.id,
        priority: b.priority,
        audio: {
          url: signedUrl(new Date(expires.getTime() + URL_GRACE_MS)),
          sha256: audio.sha256,
          size: audio.size,
          durationMs: audio.durationMs,
          mime: audio.mime,
        },
        repeat: b.repeat,
        gapMs: b.gapMs,
        ...(b.volume !== null ? { volume: b.volume } : {}),
      };
      return seal(deps.signingKey, command satisfies Command);
    },

    sendToTarget,

    sendToReceiver: (payload, receiverId) => publisher.publish(t.receiverCommand(receiverId), payload, cmd),

    stop(target, opts) {
      const now = new Date();
      const command: StopCommand = {
        v: 1,
        type: 'stop',
        id: crypto.randomUUID(),
        seq: deps.sequence.next(),
        issuedAt: now.toISOString(),
        expiresAt: opts.expiresAt.toISOString(),
        ...(opts.bulletinId ? { bulletinId: opts.bulletinId } : {}),
      };
      const payload = seal(deps.signingKey, command);
      return { command, payload, sent: sendToTarget(payload, target, target.receivers ?? []) };
    },
  };
}
