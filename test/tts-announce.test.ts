/**
 * Typed text announced through the API, read by eSpeak NG and played by simulated receivers (real
 * MQTT clients downloading real bytes); the preview the phone listens to first; and a controller
 * whose configured voice is unavailable, which starts anyway and says what is wrong.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../firmware-sim/index.js';
import { decodeWav, rms } from '../src/domain/audio/wav.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const ALERT =
  'Thông báo khẩn: bão số 3 đổ bộ lúc 14h30 ngày 25/11, gió giật 120 km/h, đề nghị bà con sơ tán.';

interface Preview {
  audio: { id: string; sha256: string; durationMs: number; mime: string };
  contentUrl: string;
  cached: boolean;
  spoken: string;
  synthMs: number;
  provider: string;
}
interface Announced {
  announcement: { id: string; audioId: string; text: string; voice: string };
  bulletin: { id: string };
  timings: { synthMs: number; ttsCached: boolean | null };
  spoken: string;
}

describe('typed text announced, read by TTS, played by receivers', () => {
  let tc: TestController;
  let fleet: Fleet;
  const zones: string[] = [];

  beforeAll(async () => {
    tc = await startTestController();
    for (const name of ['Thôn Đồng Bùa', 'Thôn Gò Dẫu', 'Thôn Quan Nội']) {
      const z = await tc.api<{ id: string }>('POST', '/api/zones', { name });
      zones.push(z.body.id);
    }
    const ids = ['tts-01', 'tts-02', 'tts-03', 'tts-04'];
    for (const [i, zone] of [zones[0], zones[0], zones[1], zones[2]].entries())
      await tc.register(ids[i]!, zone!);
    fleet = await tc.startFleet(ids, { timeFactor: 0.05 });
  });
  afterAll(async () => {
    await fleet?.stop();
    await tc?.stop();
  });

  it('previews the text: audio in the library the phone can fetch, read as normalised', async () => {
    const res = await tc.api<Preview>('POST', '/api/tts/preview', { text: ALERT, voice: 'central' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ cached: false, provider: 'espeak' });
    expect(res.body.spoken).toContain('một trăm hai mươi ki lô mét trên giờ');
    const content = await fetch(tc.url + res.body.contentUrl, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(content.status).toBe(200);
    const bytes = Buffer.from(await content.arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(res.body.audio.sha256);
    const wav = decodeWav(bytes);
    expect(rms(wav.samples)).toBeGreaterThan(0.02);
    expect(wav.durationMs / 1000 / res.body.spoken.length).toBeGreaterThan(0.04);
    expect(wav.durationMs / 1000 / res.body.spoken.length).toBeLessThan(0.2);

    const norm = await tc.api<{ spoken: string }>('POST', '/api/tts/normalise', {
      text: 'UBND xã, 0912 345 678',
    });
    expect(norm.body.spoken).toBe('ủy ban nhân dân xã, không chín một hai, ba bốn năm, sáu bảy tám');
    const tooLong = await tc.api<{ error: string; message: string }>('POST', '/api/tts/preview', {
      text: 'a'.repeat(5001),
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toBe('text_too_long');
    const badVoice = await tc.api<{ error: string }>('POST', '/api/tts/preview', {
      text: 'xin chào',
      voice: 'east',
    });
    expect(badVoice.status).toBe(400);
  });

  it('announces the previewed text: the cached audio, played by the receivers of its villages only', async () => {
    const preview = await tc.api<Preview>('POST', '/api/tts/preview', { text: ALERT, voice: 'central' });
    expect(preview.body.cached).toBe(true);
    const played = fleet.receivers.map((rx) => rx.played.length);
    const res = await tc.api<Announced>('POST', '/api/announcements', {
      content: { kind: 'text', text: ALERT, voice: 'central' },
      target: { zones: [zones[0], zones[1]] },
      repeat: 1,
    });
    expect(res.status).toBe(201);
    expect(res.body.timings).toMatchObject({ ttsCached: true, synthMs: 0 });
    expect(res.body.announcement).toMatchObject({
      audioId: preview.body.audio.id,
      text: ALERT,
      voice: 'central',
    });
    expect(res.body.spoken).toBe(preview.body.spoken);
    const bulletinId = res.body.bulletin.id;
    const heard = fleet.receivers.slice(0, 3);
    await waitFor(
      'three receivers played the announcement',
      () => heard.every((rx) => rx.played.some((p) => p.bulletinId === bulletinId)),
      20_000,
    );
    for (const rx of heard) {
      const entry = rx.played.find((p) => p.bulletinId === bulletinId)!;
      expect(entry).toMatchObject({ sha256: preview.body.audio.sha256, priority: 'emergency', plays: 1 });
    }
    // the fourth village was not targeted
    expect(fleet.receivers[3]!.played.slice(played[3])).toEqual([]);
  });

  it('a new text is synthesised once, then the same text again is the cached file', async () => {
    const content = {
      kind: 'text',
      text: 'Mời bà con dự họp lúc 19h30 tại nhà văn hóa thôn.',
      voice: 'south',
      speed: 1.2,
    };
    const first = await tc.api<Announced>('POST', '/api/announcements', {
      content,
      target: { zones: [zones[2]] },
      priority: 'normal',
    });
    expect(first.status).toBe(201);
    expect(first.body.timings.ttsCached).toBe(false);
    expect(first.body.timings.synthMs).toBeGreaterThan(0);
    const second = await tc.api<Announced>('POST', '/api/announcements', {
      content,
      target: { zones: [zones[2]] },
      priority: 'normal',
    });
    expect(second.body.timings.ttsCached).toBe(true);
    expect(second.body.announcement.audioId).toBe(first.body.announcement.audioId);
    const rx = fleet.receivers[3]!;
    await waitFor(
      'the fourth receiver played both',
      () => [first, second].every((a) => rx.played.some((p) => p.bulletinId === a.body.bulletin.id)),
      20_000,
    );
  });
});

describe('a better voice configured but unavailable', () => {
  let tc: TestController;
  beforeAll(async () => {
    tc = await startTestController({
      TTS_PROVIDER: 'command',
      TTS_COMMAND: process.execPath,
      TTS_MODEL: '/nonexistent/models/vi_VN-vais1000-medium.onnx',
    });
  });
  afterAll(async () => {
    await tc?.stop();
  });

  it('the controller starts; speaking answers 503 tts_unavailable naming the missing model', async () => {
    const health = await tc.api('GET', '/api/health');
    expect(health.status).toBe(200);
    const preview = await tc.api<{ error: string; message: string }>('POST', '/api/tts/preview', {
      text: 'Thông báo khẩn',
    });
    expect(preview.status).toBe(503);
    expect(preview.body.error).toBe('tts_unavailable');
    expect(preview.body.message).toContain(
      '/nonexistent/models/vi_VN-vais1000-medium.onnx (TTS_MODEL) does not exist',
    );
    const zone = await tc.api<{ id: string }>('POST', '/api/zones', { name: 'Thôn Hạ' });
    await tc.register('tts-x1', zone.body.id);
    const announce = await tc.api<{ error: string; message: string }>('POST', '/api/announcements', {
      content: { kind: 'text', text: 'Thông báo khẩn' },
      target: { zones: [zone.body.id] },
    });
    expect(announce.status).toBe(503);
    expect(announce.body).toMatchObject({ error: 'tts_unavailable' });
    expect(announce.body.message).toContain('TTS_MODEL');
  });
});
