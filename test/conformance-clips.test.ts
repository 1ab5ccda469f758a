/**
 * The kit's clips are new bytes in every run: a receiver whose cache survived an earlier run on the
 * same box (§13.12) must still download them, or play.basic would see no download.
 */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { toneWav } from '../src/conformance/context.js';
import { decodeWav } from '../src/domain/audio/wav.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

it('two clips of the same duration differ, and each is a tone of that duration', () => {
  const a = toneWav(1200);
  const b = toneWav(1200);
  expect(sha(a)).not.toBe(sha(b));
  for (const wav of [a, b]) {
    const d = decodeWav(wav);
    expect(d.sampleRate).toBe(8000);
    expect(d.samples.length).toBe(9600);
    const peak = Math.max(...Array.from(d.samples, Math.abs));
    expect(peak).toBeGreaterThan(0.25);
    expect(peak).toBeLessThan(0.35);
  }
});
