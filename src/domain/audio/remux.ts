/**
 * Browser recordings made playable without decoding them. MediaRecorder writes files as a live
 * stream: Chrome's WebM has no Duration element and clusters of unknown size, Chrome's MP4 is
 * fragmented with an empty movie header, Safari's MP4 is fragmented too. Receivers need a length
 * to show, seek and time their plays, and the protocol lists no Opus-in-MP4. So the encoded
 * packets are copied, never re-encoded, with mediabunny (pure TypeScript, no WebCodecs needed) into
 *
 * - Ogg/Opus (RFC 7845; its granule positions give the exact length) for Opus from WebM or MP4;
 * - a plain (non-fragmented) M4A for AAC from a fragmented MP4.
 *
 * The bytes that arrived are kept beside the playable copy (see library.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  ALL_FORMATS,
  Conversion,
  FilePathSource,
  FilePathTarget,
  Input,
  MP4,
  Mp4OutputFormat,
  OggOutputFormat,
  Output,
  WEBM,
} from 'mediabunny';
import { badRequest } from '../../errors.js';

/** What a recording is turned into, and why. */
export interface RemuxPlan {
  /** 'ogg': Ogg/Opus; 'm4a': non-fragmented MP4/AAC */
  to: 'ogg' | 'm4a';
  /** the MIME type of what arrived with its codec, e.g. `audio/webm; codecs="opus"` */
  originalMime: string;
  /** for logs and messages, e.g. "WebM without a duration" */
  reason: string;
  /** the length of the packets, seconds */
  durationS: number;
}

/**
 * How far the length a container states may differ from its packets' before the container is
 * taken to be a live recording's (Chrome's MP4 says 21 ms for 3 s): a tenth of a second, more than
 * the encoder delay and padding of any codec accepted.
 */
export const DURATION_TOLERANCE_S = 0.1;

/**
 * Whether the file at `path` is a browser recording that must be remuxed before receivers get it,
 * and into what: one audio track and no video, in WebM or MP4, and either Opus in MP4 (always:
 * receivers are not asked to play it), or a container length that is missing or disagrees with the
 * packets. Null for anything else, which the probe then judges (a WebM with a duration, an M4A,
 * an Ogg, something unsupported). Never throws for unreadable input: null.
 */
export async function planRemux(path: string): Promise<RemuxPlan | null> {
  const input = new Input({ source: new FilePathSource(path), formats: ALL_FORMATS });
  try {
    const format = await input.getFormat();
    const isWebm = format === WEBM;
    if (!isWebm && format !== MP4) return null;
    const tracks = await input.getTracks();
    const audio = await input.getAudioTracks();
    const track = audio[0];
    if (!track || audio.length !== 1 || tracks.length !== 1) return null;
    const codec = track.codec;
    if (codec !== 'opus' && !(codec === 'aac' && !isWebm)) return null;
    const durationS = await input.computeDuration([track]);
    if (!Number.isFinite(durationS) || durationS <= 0) return null;
    const stated = await input.getDurationFromMetadata([track]);
    const stateless = stated === null || Math.abs(stated - durationS) > DURATION_TOLERANCE_S;
    const originalMime = await input.getMimeType();
    const container = isWebm ? 'WebM' : 'MP4';
    if (codec === 'opus' && !isWebm) {
      return { to: 'ogg', originalMime, reason: 'Opus in MP4', durationS };
    }
    if (!stateless) return null;
    return {
      to: codec === 'opus' ? 'ogg' : 'm4a',
      originalMime,
      reason: `${container} ${stated === null ? 'without a duration' : 'with a wrong duration'} (a live recording)`,
      durationS,
    };
  } catch {
    return null;
  } finally {
    input.dispose();
  }
}

/** How long a remux may take before it is given up: 10 s, plus 1 s per 10 minutes of audio. */
export function remuxTimeoutMs(durationS: number): number {
  return 10_000 + Math.ceil(durationS / 600) * 1000;
}

/**
 * Copies the audio packets of `src` into a new file at `dest` as `plan` says (metadata tags are
 * not copied). Resolves with the time it took. Throws AppError 400 'unreadable_audio' when the
 * packets cannot be copied or the copy takes longer than `opts.timeoutMs` (default
 * `remuxTimeoutMs`); `dest` may then hold a partial file for the caller to remove.
 */
export async function remux(
  src: string,
  dest: string,
  plan: RemuxPlan,
  opts: { timeoutMs?: number } = {},
): Promise<{ remuxMs: number }> {
  const started = performance.now();
  const input = new Input({ source: new FilePathSource(src), formats: ALL_FORMATS });
  const output = new Output({
    // 'in-memory': the moov box goes first, so a player can start before the whole file is read
    format: plan.to === 'ogg' ? new OggOutputFormat() : new Mp4OutputFormat({ fastStart: 'in-memory' }),
    target: new FilePathTarget(dest),
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const conversion = await Conversion.init({
      input,
      output,
      video: { discard: true },
      tags: {},
      showWarnings: false,
    });
    if (!conversion.isValid || conversion.utilizedTracks.length !== 1) {
      const why = conversion.discardedTracks.map((d) => d.reason).join(', ') || 'no audio track';
      throw new Error(`nothing to copy (${why})`);
    }
    const run = conversion.execute();
    // Once the timeout has won, the cancelled run rejects too: that rejection is expected.
    run.catch(() => {});
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        conversion.cancel().catch(() => {});
        reject(new Error('it took too long'));
      }, opts.timeoutMs ?? remuxTimeoutMs(plan.durationS));
    });
    await Promise.race([run, timeout]);
    return { remuxMs: Math.round(performance.now() - started) };
  } catch (err) {
    if (output.state !== 'finalized' && output.state !== 'canceled') await output.cancel().catch(() => {});
    throw badRequest(
      'unreadable_audio',
      `The recording (${plan.originalMime}, ${plan.reason}) could not be made playable ` +
        `(${(err as Error).message}); record it again, or upload it as WAV or MP3.`,
      { detected: { mime: plan.originalMime } },
    );
  } finally {
    clearTimeout(timer);
    input.dispose();
  }
}

/** The sha256 (hex) and size of the file at `path`, read as a stream. */
export async function fileDigest(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
