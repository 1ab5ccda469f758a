/**
 * Decides what an uploaded file is, by its content only (never its name): `file-type` sniffs the
 * container from the magic bytes, `music-metadata` reads codec, duration and bitrate, and both must
 * agree on one of the formats receivers play: MP3, Ogg/Opus or Ogg/Vorbis, WAV (PCM), M4A/AAC,
 * WebM/Opus.
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
export const ACCEPTED_FORMATS = 'MP3, Ogg/Opus, Ogg/Vorbis, WAV (PCM), M4A/AAC or WebM/Opus';

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
  mkv: 'Matroska is not accepted; if it holds Opus, remux it: ffmpeg -i in.mkv -vn -c:a copy out.webm',
  aac: 'raw AAC (ADTS) is not accepted; wrap it in M4A: ffmpeg -i in.aac -c:a copy out.m4a',
};

function unsupported(message: string, details: Record<string, unknown>): AppError {
  return new AppError(415, 'unsupported_media', `${message} Upload ${ACCEPTED_FORMATS}.`, details);
}

const positiveOrNull = (n: number | undefined): number | null =>
  n !== undefined && Number.isFinite(n) && n > 0 ? Math.round(n) : null;

/**
 * Probes the complete file at `path` (`size` bytes, > 0). Throws AppError 415 'unsupported_media'
 * (details: what was detected) for anything not accepted, 400 'unreadable_audio' when the
 * metadata cannot be read or gives no positive duration.
 */
export async function probeAudioFile(path: string, size: number): Promise<AudioProbe> {
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
  return {
    mime: family.mime,
    container,
    codec,
    durationMs: Math.max(1, Math.round(duration * 1000)),
    bitrate: positiveOrNull(format.bitrate) ?? positiveOrNull((size * 8) / duration),
    sampleRate: positiveOrNull(format.sampleRate),
    channels: positiveOrNull(format.numberOfChannels),
  };
}
