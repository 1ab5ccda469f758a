/**
 * The remux decision and the remux itself (src/domain/audio/remux.ts) on the recorded fixtures:
 * which browser files are copied into another container, into which, and what comes out.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFile } from 'music-metadata';
import { afterAll, describe, expect, it } from 'vitest';
import { planRemux, remux, remuxTimeoutMs } from '../src/domain/audio/remux.js';
import { AppError } from '../src/errors.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/audio/${name}`, import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'loalang-remux-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('remuxing browser recordings', () => {
  it('plans a remux only for what receivers could not play as it is', async () => {
    const plans = Object.fromEntries(
      await Promise.all(
        [
          'recorded/chrome-webm-opus.webm',
          'recorded/chrome-mp4-opus.mp4',
          'recorded/safari-like-mp4-aac.mp4',
          'recorded/firefox-like-ogg-opus.ogg',
          'recorded/chrome-webm-pcm.webm',
          'live-no-duration.webm',
          'tone.webm',
          'tone.m4a',
          'tone.mp3',
          'not-audio.mp3',
        ].map(async (f) => {
          const plan = await planRemux(fixture(f));
          return [f, plan && { to: plan.to, originalMime: plan.originalMime, reason: plan.reason }];
        }),
      ),
    );
    expect(plans).toEqual({
      'recorded/chrome-webm-opus.webm': {
        to: 'ogg',
        originalMime: 'audio/webm; codecs="opus"',
        reason: 'WebM without a duration (a live recording)',
      },
      'recorded/chrome-mp4-opus.mp4': {
        to: 'ogg',
        originalMime: 'audio/mp4; codecs="opus"',
        reason: 'Opus in MP4',
      },
      'recorded/safari-like-mp4-aac.mp4': {
        to: 'm4a',
        originalMime: 'audio/mp4; codecs="mp4a.40.2"',
        reason: 'MP4 without a duration (a live recording)',
      },
      'recorded/firefox-like-ogg-opus.ogg': null,
      // PCM is not copied into anything: the probe refuses it (415)
      'recorded/chrome-webm-pcm.webm': null,
      'live-no-duration.webm': {
        to: 'ogg',
        originalMime: 'audio/webm; codecs="opus"',
        reason: 'WebM without a duration (a live recording)',
      },
      'tone.webm': null,
      'tone.m4a': null,
      'tone.mp3': null,
      'not-audio.mp3': null,
    });
  });

  it('copies the packets into a file whose container states the length', async () => {
    for (const [f, container, codec] of [
      ['recorded/chrome-webm-opus.webm', 'Ogg', 'Opus'],
      ['recorded/safari-like-mp4-aac.mp4', 'isom/mp41', 'MPEG-4/AAC'],
    ] as const) {
      const plan = (await planRemux(fixture(f)))!;
      const dest = join(work, `${plan.to}-${f.replace(/\W/g, '_')}`);
      const { remuxMs } = await remux(fixture(f), dest, plan);
      expect(remuxMs).toBeLessThan(remuxTimeoutMs(plan.durationS));
      const meta = (await parseFile(dest, { duration: true })).format;
      expect({ container: meta.container, codec: meta.codec }).toEqual({ container, codec });
      expect(Math.abs(meta.duration! - plan.durationS), f).toBeLessThan(0.1);
      const out = readFileSync(dest);
      if (plan.to === 'm4a') {
        // Not fragmented, and the movie box first: a player starts before it has the whole file.
        expect(out.includes('moof')).toBe(false);
        expect(out.indexOf('moov')).toBeLessThan(out.indexOf('mdat'));
      }
      // A copy: about the size of what arrived, not a re-encoding.
      const ratio = out.length / readFileSync(fixture(f)).length;
      expect(ratio).toBeGreaterThan(0.8);
      expect(ratio).toBeLessThan(1.2);
    }
  });

  it('gives up with 400 unreadable_audio, saying what to do, when the copy takes too long', async () => {
    const f = fixture('recorded/chrome-webm-opus.webm');
    const plan = (await planRemux(f))!;
    const err = await remux(f, join(work, 'slow.ogg'), plan, { timeoutMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ statusCode: 400, code: 'unreadable_audio' });
    expect((err as AppError).message).toMatch(/took too long.*record it again, or upload it as WAV or MP3/);
  });
});
