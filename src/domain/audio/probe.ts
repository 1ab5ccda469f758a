/**
 * Decides what an uploaded file is, by its content only (never its name): `file-type` sniffs the
 * container from the magic bytes, `music-metadata` reads codec, duration and bitrate, and both must
 * agree on one of the formats receivers play: MP3, Ogg/Opus or Ogg/Vorbis, WAV (PCM), M4A/AAC,
 * WebM/Opus. Browser recordings that receivers could not play as they arrive (a WebM without a
 * duration, Opus in MP4, a fragmented MP4) are remuxed first (remux.ts); this judges the result.
 */
import { fileTypeFromFile } from 'file-type';
import { type IFormat, parseFile } from 'music-metadata';
import { AppError, badRequest } from '../../errors.js';

/** What the probe found in an accepted file. */
export interface AudioProbe {
  /** normalised MIME type: audio/mpeg, audio/ogg, audio/wav, audio/mp4 or audio/webm */
  mime: string;
  container: string | null;
  codec: string | null;
  durationMs: number;
  /** bits per second as music-metadata reports it; the file's average when it reports none */
  bitrate: number | null;
  sampleRate: number | null;
  channels: number | null;
}

/** The formats accepted, in words, for messages. */
export const ACCEPTED_FORMATS =
  'MP3, Ogg/Opus, Ogg/Vorbis, WAV (PCM), M4A/AAC, WebM/Opus, or a browser recording ' +
  '(MediaRecorder WebM/Opus, Ogg/Opus, MP4 with Opus or AAC)';

interface Family {
  /** the MIME type stored and served */
  mime: string;
  label: string;
  /** codecs (music-metadata's `format.codec`) accepted in this container */
  codec: RegExp;
}

const MP3: Family = { mime: 'audio/mpeg', label: 'MP3', codec: /layer 3/i };
const OGG: Family = { mime: 'audio/ogg', label: 'Ogg', codec: /^(opus|vorbis)/i };
// WAVE_FORMAT_EXTENSIBLE (0xFFFE) is how 24-bit and multichannel PCM is usually written.
const WAV: Family = {
  mime: 'audio/wav',
  label: 'WAV',
  codec: /^(PCM|IEEE_FLOAT|ALAW|MULAW|non-PCM \(65534\))$/,
};
const MP4: Family = { mime: 'audio/mp4', label: 'M4A', codec: /AAC/i };
const WEBM: Family = { mime: 'audio/webm', label: 'WebM', codec: /^opus$/i };

/**
 * file-type's extension → family. Ogg/Opus is 'opus', Ogg/Vorbis 'ogg'; an audio-only MP4 with
 * the generic 'isom' brand is 'mp4' (video/mp4), accepted when music-metadata finds only AAC audio;
 * WebM is always reported as video/webm, accepted when it holds only Opus audio. Matroska ('mkv'),
 * Ogg/FLAC ('oga'), Speex, raw ADTS AAC, MP2 and 3GP are refused.
 */
const FAMILIES: Record<string, Family> = {
  mp3: MP3,
  opus: OGG,
  ogg: OGG,
  wav: WAV,
  m4a: MP4,
  m4b: MP4,
  f4a: MP4,
  mp4: MP4,
  webm: WEBM,
};

const HINTS: Record<string, string> = {
  // Chrome writes MediaRecorder's 'audio/webm;codecs=pcm' (and 'audio/x-matroska') as Matroska.
  mkv:
    'Matroska is not accepted (a browser recording made with MediaRecorder mimeType ' +
    '"audio/webm;codecs=pcm" or "audio/x-matroska" is Matroska): record with "audio/webm;codecs=opus", ' +
    'or upload WAV; a Matroska file holding Opus can be remuxed: ffmpeg -i in.mkv -vn -c:a copy out.webm',
  aac: 'raw AAC (ADTS) is not accepted; wrap it in M4A: ffmpeg -i in.aac -c:a copy out.m4a',
};

function unsupported(message: string, details: Record<string, unknown>): AppError {
  return new AppError(415, 'unsupported_media', `${message} Upload ${ACCEPTED_FORMATS}.`, details);
}

const positiveOrNull = (n: number | undefined): number | null =>
  n !== undefined && Number.isFinite(n) && n > 0 ? Math.round(n) : null;

/**
 * The lowest average bitrate (bits per second over the whole file, headers included) that a real
 * file of an accepted format has. Opus, the thriftiest, goes down to 6 kbit/s, and to a few hundred
 * bit/s over silence; MP3 and AAC not below 8 kbit/s; PCM WAV at least 64 kbit/s. A file whose size
 * and duration give less claims more time than its bytes can hold: a damaged or forged length
 * (issue 7: an Ogg whose last granule position is 2^63−1 "lasts" six million years in 2.7 KB).
 */
export const MIN_PLAUSIBLE_BITRATE = 200;
/** The highest: above 8 channels of 32-bit PCM at 384 kHz (98 Mbit/s). More means a duration too short. */
export const MAX_PLAUSIBLE_BITRATE = 100_000_000;
/** The longest duration the library ever stores or shows (AUDIO_MAX_DURATION_S may only lower it). */
export const DURATION_CEILING_MS = 86_400_000;

/**
 * Whether a file of `size` bytes may really last `durationMs`: more than 0 and at most
 * DURATION_CEILING_MS, with an average bitrate within the plausible range. The same test guards
 * uploads (on the unrounded duration, so a few bytes cannot claim a microsecond) and the rows an
 * older version stored.
 */
export function plausibleDuration(durationMs: number, size: number): boolean {
  if (!Number.isFinite(durationMs) || durationMs <= 0 || durationMs > DURATION_CEILING_MS) return false;
  if (!Number.isSafeInteger(size) || size < 1) return false;
  const average = (size * 8 * 1000) / durationMs;
  return average >= MIN_PLAUSIBLE_BITRATE && average <= MAX_PLAUSIBLE_BITRATE;
}

/** "1 h 02 min", "3 min 05 s", "12.5 s", or years for absurd values: for messages. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (!Number.isFinite(s)) return String(s);
  if (s >= 366 * 86400) return `${(s / (365.25 * 86400)).toPrecision(3)} years`;
  if (s >= 86400) return `${(s / 86400).toFixed(1)} days`;
  if (s >= 3600)
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return s >= 1 ? `${Number(s.toFixed(1))} s` : `${Number(ms.toPrecision(3))} ms`;
}

/** What an upload is checked against. */
export interface ProbeLimits {
  /** longest accepted duration (AUDIO_MAX_DURATION_S), at most DURATION_CEILING_MS */
  maxDurationMs: number;
}

/**
 * Probes the complete file at `path` (`size` bytes, > 0). Throws AppError 415 'unsupported_media'
 * (details: what was detected) for anything not accepted; 400 'unreadable_audio' when the
 * metadata cannot be read or gives no positive duration; 400 'implausible_audio' when the duration
 * cannot be true for the file's size (a damaged or forged length); 400 'audio_too_long' beyond
 * `limits.maxDurationMs`. A reported bitrate outside the plausible range is replaced by the file's
 * average.
 */
export async function probeAudioFile(path: string, size: number, limits: ProbeLimits): Promise<AudioProbe> {
  const sniffed = await fileTypeFromFile(path);
  if (!sniffed) {
    throw unsupported('The file is not recognisable audio (is it another kind of file renamed?).', {
      detected: null,
    });
  }
  const detected = { ext: sniffed.ext, mime: sniffed.mime };
  const family = FAMILIES[sniffed.ext];
  if (!family) {
    const hint = HINTS[sniffed.ext];
    throw unsupported(`The file is ${sniffed.mime} (.${sniffed.ext})${hint ? `: ${hint}` : ''}.`, {
      detected,
    });
  }

  let format: IFormat;
  try {
    format = (await parseFile(path, { duration: true, skipCovers: true })).format;
  } catch (err) {
    throw badRequest(
      'unreadable_audio',
      `The file looks like ${family.label} but its audio cannot be read (${(err as Error).message}).`,
      { detected },
    );
  }
  const container = format.container ?? null;
  const codec = format.codec ?? null;
  const found = { detected, container, codec };
  if (format.hasVideo) {
    throw unsupported(`The file holds video (${sniffed.mime}); extract the audio first.`, found);
  }
  if (!codec || !family.codec.test(codec)) {
    throw unsupported(`${family.label} with codec ${codec ?? 'unknown'} is not accepted.`, found);
  }
  const duration = format.duration;
  if (duration === undefined || !Number.isFinite(duration) || duration <= 0) {
    throw badRequest(
      'unreadable_audio',
      `The ${family.label} file has no readable duration (a live or truncated recording?); ` +
        'save or convert it again and retry.',
      found,
    );
  }
  if (!plausibleDuration(duration * 1000, size)) {
    throw badRequest(
      'implausible_audio',
      `The ${family.label} file claims to last ${formatDuration(duration * 1000)}, which its ${size} bytes ` +
        'cannot hold (a damaged length field or last page); save or convert it again and retry.',
      { ...found, durationS: duration, size },
    );
  }
  // A file of a few samples still lasts at least 1 ms.
  const durationMs = Math.max(1, Math.round(duration * 1000));
  const maxDurationMs = Math.min(limits.maxDurationMs, DURATION_CEILING_MS);
  if (durationMs > maxDurationMs) {
    throw badRequest(
      'audio_too_long',
      `The ${family.label} file lasts ${formatDuration(durationMs)}; the longest accepted is ` +
        `${formatDuration(maxDurationMs)} (AUDIO_MAX_DURATION_S). Cut it into parts.`,
      { ...found, durationMs, maxDurationMs },
    );
  }
  const reported = positiveOrNull(format.bitrate);
  const average = Math.round((size * 8 * 1000) / durationMs);
  return {
    mime: family.mime,
    container,
    codec,
    durationMs,
    bitrate:
      reported !== null && reported >= MIN_PLAUSIBLE_BITRATE && reported <= MAX_PLAUSIBLE_BITRATE
        ? reported
        : average,
    sampleRate: positiveOrNull(format.sampleRate),
    channels: positiveOrNull(format.numberOfChannels),
  };
}
