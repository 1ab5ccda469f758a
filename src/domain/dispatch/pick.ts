/**
 * Which file of a bulletin's audio each receiver is sent (docs/protocol.md §7.3): the smallest of
 * the original and its renditions whose codec the receiver advertised in its status (§5). A
 * receiver that advertised nothing is taken to play MP3 — what every loudspeaker receiver on the
 * market plays. When it can play none of them, it gets the original, as before renditions existed.
 */
import type { AudioFile } from '../audio/renditions.js';

/** What a receiver that says nothing is assumed to play. */
export const DEFAULT_CODECS: readonly string[] = ['mp3'];

/**
 * The file for a receiver advertising `codecs` (null or empty: nothing said). `files` is the
 * original first, then the renditions; on equal sizes the earlier one wins.
 */
export function pickFile<F extends Pick<AudioFile, 'codec' | 'size'>>(
  files: readonly F[],
  codecs: readonly string[] | null | undefined,
): F {
  const original = files[0];
  if (!original) throw new Error('pickFile: no files');
  const can = new Set(codecs?.length ? codecs : DEFAULT_CODECS);
  let best: F | null = null;
  for (const f of files) if (can.has(f.codec) && (!best || f.size < best.size)) best = f;
  return best ?? original;
}
