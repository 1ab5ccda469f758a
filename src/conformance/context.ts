/**
 * What a conformance case works with: the receiver under test (its id, zone and topics), the
 * controller the kit runs (its HTTP API as the administrator, and its own end of the MQTT
 * contract), the receiver's messages (observer.ts), the link proxy (proxy.ts), a forge for
 * commands — genuine ones, and the refused kinds a controller never sends — and audio clips.
 * Everything a case sends or sees worth reporting goes into its evidence.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { AudioRef, PlayCommand, StopCommand } from '../contract/mqtt.js';
import type { ProvisioningBundle } from '../contract/provisioning.js';
import { generateSigningKey, type SigningKey, seal } from '../contract/signing.js';
import type { Controller } from '../controller.js';
import { encodeWav } from '../domain/audio/wav.js';
import { DEFAULT_CODECS, pickFile } from '../domain/dispatch/pick.js';
import type { Observer } from './observer.js';
import type { LinkProxy } from './proxy.js';
import { CaseSkipped, type Evidence } from './types.js';

export interface ReceiverUnderTest {
  id: string;
  /** the zone (village) the kit registered it into */
  zoneId: string;
  topics: {
    cmd: string;
    config: string;
    status: string;
    event: string;
    schedule: string;
    airing: string;
    time: string;
    clock: string;
    zoneCmd: string;
    allCmd: string;
  };
}

/** How a forged envelope is made (docs/protocol.md §7.1): each is refused with its own reason. */
export type Seal =
  | 'signed'
  /** the command as plain JSON: `unsigned` */
  | 'unsigned'
  /** signed by a key the receiver does not trust: `unknown_key` */
  | 'unknown_key'
  /** a trusted kid, but the signature is another key's: `bad_signature` */
  | 'bad_signature'
  /** genuinely signed for another topic (`wrongTopic`), published here: `wrong_topic` */
  | { wrongTopic: string };

export interface Clip {
  audioId: string;
  sha256: string;
  size: number;
  durationMs: number;
  mime: string;
  /** the sha256 of the upload itself (what schedule documents name: they use no renditions, §13.2) */
  uploadSha256: string;
  /** the bytes of the file the receiver is sent (the upload, or the rendition picked for it) */
  bytes(): Promise<Buffer>;
  /** the `audio` of a play command, its URL valid until `expiresAt` */
  ref(expiresAt: Date): AudioRef;
}

export interface PlayOptions {
  id?: string;
  seq?: number;
  bulletinId?: string;
  priority?: PlayCommand['priority'];
  clip?: Clip;
  /** the audio as sent (a wrong sha256 or size, a dead URL); default the clip's */
  audio?: AudioRef;
  repeat?: number;
  gapMs?: number;
  volume?: number;
  issuedAt?: Date;
  /** default issuedAt + 2 min */
  expiresAt?: Date;
}

export interface StopOptions {
  id?: string;
  seq?: number;
  bulletinId?: string;
  issuedAt?: Date;
  expiresAt?: Date;
}

export interface CaseContext {
  rx: ReceiverUnderTest;
  controller: Controller;
  /** the controller's HTTP API as its administrator: status and parsed JSON */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  seen: Observer;
  link: LinkProxy;
  /** builds commands (not sent) */
  play(opts?: PlayOptions): Promise<PlayCommand>;
  stop(opts?: StopOptions): StopCommand;
  /** publishes `body` on `topic` (QoS 1, not retained) sealed as `how` says; the evidence notes it */
  send(topic: string, body: unknown, how?: Seal): Promise<string>;
  /** publishes a raw payload (anything, even not JSON) as the controller */
  publishRaw(
    topic: string,
    payload: string | Buffer,
    opts?: { retain?: boolean; qos?: 0 | 1 },
  ): Promise<void>;
  /** a short audio clip, uploaded once per duration and kept for the run */
  clip(durationMs?: number): Promise<Clip>;
  /**
   * A harmless genuine command that the receiver must confirm (a stop for a bulletin it never
   * had, §7.4): resolves once confirmed. Commands are handled in arrival order, so whatever the
   * receiver said about commands sent before it has been said by then.
   */
  barrier(): Promise<void>;
  /**
   * Restarts the receiver (a power cycle), running `whileOff` while it is stopped — with `bundle`,
   * loaded with that provisioning bundle from then on (new credentials); skips the case when the
   * kit did not launch it.
   */
  restartReceiver(opts?: { whileOff?: () => Promise<void>; bundle?: ProvisioningBundle }): Promise<void>;
  /** the session of the receiver's latest `online` status */
  session(): number | null;
  /** waits for an `online` status with a session greater than `after` (default the current one) */
  online(opts?: { after?: number | null; timeoutMs?: number }): Promise<Record<string, unknown>>;
  /** the controller's key that signs commands now */
  commandKey(): SigningKey;
  note(text: string): void;
  sent(text: string): void;
  saw(text: string): void;
  skip(why: string): never;
  /** evidence so far */
  evidence(): Evidence[];
  /** the payload `send` would publish for `body` on `topic` sealed as `how` (nothing sent, no evidence) */
  seal(topic: string, body: unknown, how?: Seal): string;
}

export interface ContextDeps {
  rx: ReceiverUnderTest;
  controller: Controller;
  api: CaseContext['api'];
  seen: Observer;
  link: LinkProxy;
  restart: ((whileOff?: () => Promise<void>, bundle?: ProvisioningBundle) => Promise<void>) | null;
  /** clips shared by every case of the run */
  clips: Map<number, Clip>;
}

const unknownKey = generateSigningKey('kit-unknown-key');

/**
 * A WAV of `durationMs` of a quiet tone whose pitch follows the duration (each clip of a run has
 * its own bytes), with a random phase and a pitch offset of up to 5 Hz: its bytes (and sha256) are
 * new every time, so a receiver that kept the audio of an earlier run (its cache survives, §13.12)
 * has none of this run's clips. The context makes one per duration and keeps it for the run.
 */
export function toneWav(durationMs: number): Buffer {
  const rate = 8000;
  const samples = new Float32Array(Math.round((rate * durationMs) / 1000));
  const hz = 300 + (durationMs % 700) + randomInt(0, 5000) / 1000;
  const phase = (randomInt(0, 1_000_000) / 1_000_000) * 2 * Math.PI;
  for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin(phase + (2 * Math.PI * hz * i) / rate);
  return encodeWav(samples, rate);
}

/**
 * Stores `bytes` in the controller's library and answers the clip as the receiver would be sent it
 * (§7.3): the smallest of the upload and its renditions among the `codecs` its status lists — MP3
 * when it lists none — made now if need be, or the upload when it can play none of them. Its
 * URLs are signed for receivers.
 */
export async function uploadClip(
  controller: Controller,
  bytes: Buffer,
  filename: string,
  codecs: readonly string[] | null,
): Promise<Clip> {
  const { audio } = await controller.audio.ingest({
    stream: Readable.from([bytes]),
    filename,
    name: `conformance ${filename}`,
  });
  if (audio.durationMs === null) throw new Error(`the controller could not read the kit's clip ${filename}`);
  let files = controller.renditions.files(audio.id);
  if (!new Set(codecs?.length ? codecs : DEFAULT_CODECS).has(files[0]!.codec)) {
    // It cannot play the upload: the copies it can play, as a bulletin would get them.
    await controller.renditions.ensure(audio.id).catch(() => undefined);
    files = controller.renditions.files(audio.id);
  }
  const file = pickFile(files, codecs);
  const codec = file.rendition ?? undefined;
  const rendition = codec ? controller.renditions.get(audio.id, codec) : null;
  return {
    audioId: audio.id,
    sha256: file.sha256,
    size: file.size,
    durationMs: file.durationMs,
    mime: file.mime,
    uploadSha256: audio.sha256,
    bytes: async () => (rendition ? readFile(controller.renditions.filePath(rendition)) : bytes),
    ref: (expiresAt) => ({
      url: controller.audio.signedUrl(audio.id, expiresAt, codec),
      sha256: file.sha256,
      size: file.size,
      durationMs: file.durationMs,
      mime: file.mime,
    }),
  };
}

/** The codecs of the receiver's latest `online` status (null: it listed none). */
export function listedCodecs(seen: Observer): string[] | null {
  for (const m of seen.all().reverse())
    if (m.leaf === 'status' && m.json?.state === 'online')
      return Array.isArray(m.json.codecs) && m.json.codecs.length ? (m.json.codecs as string[]) : null;
  return null;
}

export function createCaseContext(deps: ContextDeps): CaseContext {
  const { rx, controller, seen } = deps;
  const wire = controller.wire;
  const t0 = Date.now();
  const evidence: Evidence[] = [];
  const add = (kind: Evidence['kind'], text: string) => evidence.push({ atMs: Date.now() - t0, kind, text });

  function sealAs(topic: string, body: unknown, how: Seal): string {
    const key = wire.commandKey();
    if (how === 'signed') return seal(key, topic, body);
    if (how === 'unsigned') return JSON.stringify(body);
    if (how === 'unknown_key') return seal(unknownKey, topic, body);
    if (how === 'bad_signature') {
      const forged = JSON.parse(seal(unknownKey, topic, body)) as { kid: string };
      forged.kid = key.kid;
      return JSON.stringify(forged);
    }
    return seal(key, how.wrongTopic, body);
  }

  const ctx: CaseContext = {
    rx,
    controller,
    api: deps.api,
    seen,
    link: deps.link,
    async play(o = {}) {
      const issuedAt = o.issuedAt ?? new Date();
      const expiresAt = o.expiresAt ?? new Date(issuedAt.getTime() + 120_000);
      const clip = o.clip ?? (o.audio ? null : await ctx.clip());
      return {
        v: 1,
        type: 'play',
        id: o.id ?? randomUUID(),
        seq: o.seq ?? wire.nextSeq(),
        issuedAt: issuedAt.toISOString(),
        expiresAt: expiresAt.toISOString(),
        bulletinId: o.bulletinId ?? randomUUID(),
        priority: o.priority ?? 'normal',
        audio: o.audio ?? clip!.ref(new Date(expiresAt.getTime() + 60_000)),
        repeat: o.repeat ?? 1,
        gapMs: o.gapMs ?? 0,
        ...(o.volume !== undefined ? { volume: o.volume } : {}),
      };
    },
    stop(o = {}) {
      const issuedAt = o.issuedAt ?? new Date();
      return {
        v: 1,
        type: 'stop',
        id: o.id ?? randomUUID(),
        seq: o.seq ?? wire.nextSeq(),
        issuedAt: issuedAt.toISOString(),
        expiresAt: (o.expiresAt ?? new Date(issuedAt.getTime() + 600_000)).toISOString(),
        ...(o.bulletinId ? { bulletinId: o.bulletinId } : {}),
      };
    },
    async send(topic, body, how = 'signed') {
      const text = sealAs(topic, body, how);
      const b = body as { type?: string; id?: string; priority?: string };
      const what = typeof how === 'string' ? how : `signed for ${how.wrongTopic}`;
      add(
        'sent',
        `${b.type ?? 'message'}${b.priority ? ` (${b.priority})` : ''} ${b.id ?? ''} on ${topic}, ${what}`,
      );
      await wire.publish(topic, text, { qos: 1, retain: false });
      return text;
    },
    async publishRaw(topic, payload, o = {}) {
      add('sent', `raw ${Buffer.byteLength(payload)} bytes on ${topic}${o.retain ? ' (retained)' : ''}`);
      await wire.publish(topic, payload, { qos: o.qos ?? 1, retain: o.retain ?? false });
    },
    async clip(durationMs = 1200) {
      const known = deps.clips.get(durationMs);
      if (known) return known;
      const clip = await uploadClip(
        controller,
        toneWav(durationMs),
        `kit-${durationMs}ms.wav`,
        listedCodecs(seen),
      );
      deps.clips.set(durationMs, clip);
      return clip;
    },
    async barrier() {
      const stop = ctx.stop({ bulletinId: randomUUID() });
      const from = seen.mark();
      await wire.publish(rx.topics.cmd, seal(wire.commandKey(), rx.topics.cmd, stop), {
        qos: 1,
        retain: false,
      });
      await seen.waitForEvent(stop.id, 'received', { from, timeoutMs: 10_000 });
    },
    async restartReceiver(o = {}) {
      if (!deps.restart)
        ctx.skip('the kit did not start the receiver (no --launch), so it cannot restart it');
      add('note', `restarting the receiver${o.bundle ? ' with a new provisioning bundle' : ''}`);
      await deps.restart(o.whileOff, o.bundle);
    },
    session() {
      for (const m of seen.all().reverse())
        if (m.leaf === 'status' && m.json?.state === 'online' && typeof m.json.session === 'number')
          return m.json.session;
      return null;
    },
    async online(o = {}) {
      const after = o.after === undefined ? ctx.session() : o.after;
      const m = await seen.waitFor(
        `an "online" status with a session above ${after}`,
        (x) =>
          x.leaf === 'status' &&
          x.json?.state === 'online' &&
          typeof x.json.session === 'number' &&
          (after === null || x.json.session > after),
        { timeoutMs: o.timeoutMs ?? 20_000 },
      );
      return m.json!;
    },
    commandKey: () => wire.commandKey(),
    note: (text) => add('note', text),
    sent: (text) => add('sent', text),
    saw: (text) => add('saw', text),
    skip(why) {
      throw new CaseSkipped(why);
    },
    evidence: () => [...evidence],
    seal: (topic, body, how = 'signed') => sealAs(topic, body, how),
  };
  return ctx;
}
