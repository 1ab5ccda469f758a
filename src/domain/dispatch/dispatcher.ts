/**
 * Where play and stop commands are built, signed and published.
 *
 * A bulletin to all receivers is one publish on the all-receiver topic; to villages, one publish per
 * zone topic; to single receivers, one per receiver topic. A resend to one receiver (after it
 * reconnects, or when it has not acknowledged) goes on its own topic with the same command id.
 *
 * A command object is built once; it is sealed at each send, for the topic it goes on (the
 * signature covers the topic, see contract/signing.ts) and with the key that signs commands then
 * (a resend after a key rotation is signed with the new key).
 */
import type { AudioRef, Command, PlayCommand, StopCommand, Topics } from '../../contract/mqtt.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import type { Publisher } from '../../mqtt/client.js';
import type { Sequence } from '../../storage/sequence.js';
import type { BulletinRow, BulletinTarget } from '../bulletins/repo.js';

/** Extra time the audio URL stays valid after the command expires, so a download begun in time can finish. */
const URL_GRACE_MS = 15 * 60 * 1000;

/** The file a play command carries: the original or a rendition (dispatch/pick.ts chooses). */
export type PlayFile = Omit<AudioRef, 'url'>;

export interface Dispatcher {
  /**
   * A bulletin's play command with one of its audio's files (the same id and seq for every send and
   * every file; sealed per send).
   */
  playCommand(b: BulletinRow, audio: PlayFile, signedUrl: (expiresAt: Date) => string): PlayCommand;
  /**
   * Seals and publishes a command on the topics that cover `target`, each copy signed for its
   * topic; explicit receivers already covered are skipped.
   */
  sendToTarget(command: Command, target: BulletinTarget, explicit: string[]): Promise<void>;
  /** Seals and publishes a command on one receiver's own topic. */
  sendToReceiver(command: Command, receiverId: string): Promise<void>;
  /**
   * Builds and publishes a stop: for one bulletin, or everything in scope when `bulletinId` is
   * absent. `sent` settles when the broker acknowledged it (it may wait for a reconnection).
   */
  stop(
    target: BulletinTarget,
    opts: { bulletinId?: string; expiresAt: Date },
  ): { command: StopCommand; sent: Promise<void> };
}

/**
 * The stop command of a stop's fields: the one shape, whether the stop is new or reloaded from
 * its record after a restart (the same bytes are then signed again for each resend).
 */
export function stopCommand(s: {
  id: string;
  seq: number;
  issuedAt: string;
  expiresAt: string;
  bulletinId?: string | null | undefined;
}): StopCommand {
  return {
    v: 1,
    type: 'stop',
    id: s.id,
    seq: s.seq,
    issuedAt: s.issuedAt,
    expiresAt: s.expiresAt,
    ...(s.bulletinId ? { bulletinId: s.bulletinId } : {}),
  };
}

export function createDispatcher(deps: {
  publisher: Publisher;
  topics: Topics;
  /** the key that signs commands at the time of each send (it changes with a key rotation) */
  commandKey: () => SigningKey;
  sequence: Sequence;
}): Dispatcher {
  const { publisher, topics: t } = deps;
  const cmd = { qos: 1 as const, retain: false };

  /** Seals `command` for `topic` and publishes it there. */
  function send(command: Command, topic: string): Promise<void> {
    return publisher.publish(topic, seal(deps.commandKey(), topic, command), cmd);
  }

  async function sendToTarget(command: Command, target: BulletinTarget, explicit: string[]): Promise<void> {
    const sends: Promise<void>[] = [];
    if (target.all) {
      sends.push(send(command, t.allCommand()));
    } else {
      for (const z of target.zones ?? []) sends.push(send(command, t.zoneCommand(z)));
      for (const r of explicit) sends.push(send(command, t.receiverCommand(r)));
    }
    await Promise.all(sends);
  }

  return {
    playCommand(b, audio, signedUrl) {
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
      return command;
    },

    sendToTarget,

    sendToReceiver: (command, receiverId) => send(command, t.receiverCommand(receiverId)),

    stop(target, opts) {
      const command = stopCommand({
        id: crypto.randomUUID(),
        seq: deps.sequence.next(),
        issuedAt: new Date().toISOString(),
        expiresAt: opts.expiresAt.toISOString(),
        bulletinId: opts.bulletinId,
      });
      return { command, sent: sendToTarget(command, target, target.receivers ?? []) };
    },
  };
}
