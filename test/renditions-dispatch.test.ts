/**
 * Each receiver gets the file it can play (issue 9, item 4): a real controller with renditions on,
 * the embedded broker over TCP, SQLite in a temp dir, simulated receivers advertising different
 * codecs (or none, like an older firmware), real downloads checked by sha256 and size.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimReceiver } from '../firmware-sim/index.js';
import { createTranscoder, type Transcoder } from '../src/domain/audio/transcode.js';
import { AUDIO_FIXTURES } from './helpers/audio-app.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { vendorMp3 as makeVendorMp3, stereoWav } from './helpers/renditions.js';
import { waitFor } from './helpers/wait.js';

interface Rendition {
  codec: string;
  mime: string;
  sha256: string;
  size: number;
  bitrate: number;
  durationMs: number;
}
interface AudioDetail {
  id: string;
  sha256: string;
  size: number;
  renditions: (Rendition & { encodeMs: number | null; createdAt: string })[];
  renditionsPending: boolean;
}
interface Bulletin {
  id: string;
  status: string;
  deliveries: { receiverId: string; state: string; reason: string | null }[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Who advertises what: opus only, mp3 only, nothing (an older firmware), WAV only. */
const RECEIVERS: Record<string, string[] | null> = {
  'rx-opus': ['opus'],
  'rx-mp3': ['mp3'],
  'rx-none': null,
  'rx-pcm': ['pcm'],
};

let tc: TestController;
let dir: string;
const sims = new Map<string, SimReceiver>();
let vendorMp3: Buffer;
/** the test's own codec library, for the vendor files */
let tcodec: Transcoder;

async function startSim(id: string, codecs: string[] | null): Promise<SimReceiver> {
  const rx = new SimReceiver({ ...tc.sim(id), timeFactor: 0.02, codecs });
  sims.set(id, rx);
  await rx.start();
  return rx;
}

const getAudio = async (id: string) => (await tc.api<AudioDetail>('GET', `/api/audio/${id}`)).body;

/** Plays a bulletin of `audioId` on `zone` and waits until every delivery is done. */
async function playOn(audioId: string, zone: string): Promise<Bulletin> {
  const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
    audioId,
    target: { zones: [zone] },
    priority: 'normal',
    repeat: 1,
    gapSeconds: 0,
  });
  expect(res.status).toBe(201);
  return waitFor(
    `bulletin ${res.body.id} done`,
    async () => {
      const b = (await tc.api<Bulletin>('GET', `/api/bulletins/${res.body.id}`)).body;
      return b.deliveries.every((d) => d.state === 'done') ? b : null;
    },
    15_000,
  );
}

/** Topics the controller publishes commands on while `fn` runs (seen by the real broker). */
async function commandTopics<T>(fn: () => Promise<T>): Promise<{ result: T; topics: string[] }> {
  const topics: string[] = [];
  const aedes = tc.controller.broker!.aedes;
  const seen = (packet: { topic: string }) => {
    if (packet.topic.endsWith('/cmd')) topics.push(packet.topic);
  };
  aedes.on('publish', seen);
  try {
    return { result: await fn(), topics };
  } finally {
    aedes.removeListener('publish', seen);
  }
}

/** The sha256 receiver `id` played (and had verified) for bulletin `bulletinId`. */
const playedBy = (id: string, bulletinId: string) =>
  sims.get(id)!.played.find((p) => p.bulletinId === bulletinId)?.sha256;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'loalang-rendition-dispatch-'));
  // The vendor's usual file: 4 s at 128 kbit/s, stereo, 44.1 kHz (made with the same codec library).
  tcodec = createTranscoder({ log: pino({ level: 'silent' }) });
  vendorMp3 = await makeVendorMp3(tcodec, dir, 440, 4000);

  tc = await startTestController({ RENDITION_MAX_DURATION_S: '1800' });
  await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
  await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
  await tc.api('POST', '/api/zones', { id: 'thon-3', name: 'Thôn 3' });
  for (const id of Object.keys(RECEIVERS)) await tc.register(id, 'thon-1');
  for (const id of ['rx-a', 'rx-b']) await tc.register(id, 'thon-2');
  await tc.register('rx-bad', 'thon-3');
  await Promise.all(Object.entries(RECEIVERS).map(([id, codecs]) => startSim(id, codecs)));
  await Promise.all(['rx-a', 'rx-b'].map((id) => startSim(id, ['opus', 'mp3'])));
}, 30_000);

afterAll(async () => {
  await Promise.all([...sims.values()].map((rx) => rx.stop()));
  await tc?.stop();
  await tcodec?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the file each receiver is sent', () => {
  it('stores the codecs receivers advertise (none for an older firmware)', async () => {
    for (const [id, codecs] of Object.entries(RECEIVERS)) {
      const rx = await waitFor(`${id} online`, async () => {
        const r = (await tc.api<{ online: boolean; codecs: string[] | null }>('GET', `/api/receivers/${id}`))
          .body;
        return r.online ? r : null;
      });
      expect([id, rx.codecs]).toEqual([id, codecs]);
    }
  });

  it('a 128 kbit/s stereo upload gets its renditions in the background, listed with the audio', async () => {
    const up = await tc.upload(vendorMp3, 'ban-tin-128k.mp3');
    expect(up.status).toBe(201);
    const audio = await waitFor(
      'renditions made',
      async () => {
        const a = await getAudio(up.audio.id);
        return !a.renditionsPending && a.renditions.length === 2 ? a : null;
      },
      20_000,
    );
    expect(audio.renditions.map((r) => [r.codec, r.mime, r.bitrate])).toEqual([
      ['opus', 'audio/ogg', 24_000],
      ['mp3', 'audio/mpeg', 32_000],
    ]);
    for (const r of audio.renditions) {
      expect(r.size).toBeLessThan(audio.size * 0.3);
      expect(Math.abs(r.durationMs - 4000)).toBeLessThan(200);
    }
  });

  it('opus → the Opus copy, mp3 and nothing → the MP3 copy, pcm only → the original; all proven played', async () => {
    const up = await tc.upload(vendorMp3, 'same-bytes.mp3'); // the same bytes: the same audio
    const audio = await getAudio(up.audio.id);
    const opus = audio.renditions.find((r) => r.codec === 'opus')!;
    const mp3 = audio.renditions.find((r) => r.codec === 'mp3')!;
    // Different files for the receivers of one village: each gets its own on its own topic.
    const { result: b, topics } = await commandTopics(() => playOn(audio.id, 'thon-1'));
    expect(topics.sort()).toEqual(
      Object.keys(RECEIVERS)
        .map((id) => `loalang/v1/rx/${id}/cmd`)
        .sort(),
    );
    expect(b.status).toBe('completed');
    expect(playedBy('rx-opus', b.id)).toBe(opus.sha256);
    expect(playedBy('rx-mp3', b.id)).toBe(mp3.sha256);
    expect(playedBy('rx-none', b.id)).toBe(mp3.sha256);
    expect(playedBy('rx-pcm', b.id)).toBe(audio.sha256);
    expect(audio.sha256).toBe(sha256(vendorMp3));
    // What they hold is what they were sent.
    expect(sims.get('rx-opus')!.cached).toContain(opus.sha256);
    expect(sims.get('rx-pcm')!.cached).toContain(audio.sha256);
  });

  it('a village whose receivers all play Opus gets it (one publish for the zone)', async () => {
    const up = await tc.upload(vendorMp3, 'again.mp3');
    const opus = (await getAudio(up.audio.id)).renditions.find((r) => r.codec === 'opus')!;
    const { result: b, topics } = await commandTopics(() => playOn(up.audio.id, 'thon-2'));
    expect(topics).toEqual(['loalang/v1/zone/thon-2/cmd']);
    expect(playedBy('rx-a', b.id)).toBe(opus.sha256);
    expect(playedBy('rx-b', b.id)).toBe(opus.sha256);
  });

  it('a WAV original: a receiver that plays WAV gets it as uploaded; others the small copies', async () => {
    const wav = readFileSync(join(AUDIO_FIXTURES, 'tone.wav'));
    const up = await tc.upload(wav, 'tone.wav');
    const made = await tc.api<{ items: Rendition[] }>('POST', `/api/audio/${up.audio.id}/renditions`);
    expect(made.status).toBe(200);
    const byCodec = new Map(made.body.items.map((r) => [r.codec, r]));
    const b = await playOn(up.audio.id, 'thon-1');
    expect(playedBy('rx-pcm', b.id)).toBe(sha256(wav));
    expect(playedBy('rx-opus', b.id)).toBe(byCodec.get('opus')!.sha256);
    expect(playedBy('rx-none', b.id)).toBe(byCodec.get('mp3')!.sha256);
  });

  it('AAC: 415 no_decoder when asked for renditions, and the original still plays everywhere', async () => {
    const m4a = readFileSync(join(AUDIO_FIXTURES, 'tone.m4a'));
    const up = await tc.upload(m4a, 'safari.m4a');
    const made = await tc.api<{ error: string; message: string }>(
      'POST',
      `/api/audio/${up.audio.id}/renditions`,
    );
    expect(made.status).toBe(415);
    expect(made.body.error).toBe('no_decoder');
    expect(made.body.message).toMatch(/AAC/);
    const b = await playOn(up.audio.id, 'thon-1');
    for (const id of Object.keys(RECEIVERS)) expect([id, playedBy(id, b.id)]).toEqual([id, sha256(m4a)]);
  });

  it('an announcement waits for the renditions, so even a fresh upload goes out small', async () => {
    const fresh = stereoWav(520, 2500, 22_050);
    const up = await tc.upload(fresh, 'ghi-am.wav');
    const res = await tc.api<{
      bulletin: { id: string };
      timings: { renditionMs: number };
      warnings: string[];
    }>('POST', '/api/announcements', {
      content: { kind: 'audio', audioId: up.audio.id },
      target: { zones: ['thon-1'] },
      repeat: 1,
      gapSeconds: 0,
    });
    expect(res.status).toBe(201);
    expect(res.body.warnings).toEqual([]);
    const audio = await getAudio(up.audio.id);
    const opus = audio.renditions.find((r) => r.codec === 'opus')!;
    await waitFor('announcement played', async () => {
      const b = (await tc.api<Bulletin>('GET', `/api/bulletins/${res.body.bulletin.id}`)).body;
      return b.deliveries.every((d) => d.state === 'done') ? b : null;
    });
    expect(playedBy('rx-opus', res.body.bulletin.id)).toBe(opus.sha256);
    expect(playedBy('rx-pcm', res.body.bulletin.id)).toBe(sha256(fresh));
  });

  it('a rendition is served only through its own signed URL, with Range, to an adopted receiver', async () => {
    const up = await tc.upload(vendorMp3, 'serve.mp3');
    const mp3 = (await getAudio(up.audio.id)).renditions.find((r) => r.codec === 'mp3')!;
    const o = tc.sim('rx-mp3');
    const basic = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
    const url = tc.controller.audio.signedUrl(up.audio.id, new Date(Date.now() + 60_000), 'mp3');
    expect(url).toMatch(/\/renditions\/mp3\/content\?exp=\d+&sig=/);
    const full = await fetch(url, { headers: { authorization: basic } });
    expect(full.status).toBe(200);
    expect(full.headers.get('content-type')).toBe('audio/mpeg');
    expect(full.headers.get('etag')).toBe(`"${mp3.sha256}"`);
    expect(sha256(Buffer.from(await full.arrayBuffer()))).toBe(mp3.sha256);
    const part = await fetch(url, { headers: { authorization: basic, range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(100);
    // The signature covers the codec: the MP3 link does not open the Opus copy, nor the original.
    const swapped = url.replace('/renditions/mp3/', '/renditions/opus/');
    expect((await fetch(swapped, { headers: { authorization: basic } })).status).toBe(403);
    const original = url.replace('/renditions/mp3/', '/');
    expect((await fetch(original, { headers: { authorization: basic } })).status).toBe(403);
    // A signed URL alone is refused; an officer previews with the token.
    expect((await fetch(url)).status).toBe(401);
    const preview = await fetch(`${tc.url}/api/audio/${up.audio.id}/renditions/opus/content`, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(preview.status).toBe(200);
    expect(preview.headers.get('content-type')).toBe('audio/ogg');
    const none = await fetch(`${tc.url}/api/audio/${up.audio.id}/renditions/flac/content`, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(none.status).toBe(400);
  });
});

describe('a status with bad codecs', () => {
  it('is refused without harm: what was stored stays, and the receiver still gets what it plays', async () => {
    const o = tc.sim('rx-bad');
    const c = await mqtt.connectAsync(o.brokerUrl, {
      clientId: 'rx-bad',
      username: o.username!,
      password: o.password!,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    const topic = 'loalang/v1/rx/rx-bad/status';
    const status = (extra: Record<string, unknown>) =>
      JSON.stringify({ v: 1, state: 'online', ts: new Date().toISOString(), ...extra });
    const getRx = async () =>
      (
        await tc.api<{ session: number; volume: number; codecs: string[] | null }>(
          'GET',
          '/api/receivers/rx-bad',
        )
      ).body;
    await c.publishAsync(topic, status({ session: 5, volume: 40, codecs: ['opus'] }), { qos: 1 });
    await waitFor('first status', async () => (await getRx()).session === 5);
    for (const codecs of [
      'opus',
      ['OPUS'],
      [1],
      ['o p u s'],
      Array.from({ length: 17 }, (_, i) => `c${i}`),
    ]) {
      await c.publishAsync(topic, status({ session: 6, volume: 90, codecs }), { qos: 1 });
    }
    // A later good status is taken; none of the bad ones was (the volume is still 40).
    await c.publishAsync(topic, status({ session: 7, codecs: ['opus'] }), { qos: 1 });
    await waitFor('barrier status', async () => (await getRx()).session === 7);
    expect(await getRx()).toMatchObject({ session: 7, volume: 40, codecs: ['opus'] });
    await c.endAsync();

    // The receiver itself, with the same word: it gets the Opus copy.
    await startSim('rx-bad', ['opus']);
    const up = await tc.upload(vendorMp3, 'bad.mp3');
    const opus = (await getAudio(up.audio.id)).renditions.find((r) => r.codec === 'opus')!;
    const res = await tc.api<Bulletin>('POST', '/api/bulletins', {
      audioId: up.audio.id,
      target: { receivers: ['rx-bad'] },
      priority: 'normal',
      repeat: 1,
      gapSeconds: 0,
    });
    expect(res.status).toBe(201);
    await waitFor('played', async () => playedBy('rx-bad', res.body.id));
    expect(playedBy('rx-bad', res.body.id)).toBe(opus.sha256);
  });

  it("zone stops go out and are confirmed all the while a long upload's copies are made", async () => {
    // 2 minutes at 128 kbit/s stereo: its copies take the codec library seconds of CPU, all of it
    // on its own thread.
    const long = await makeVendorMp3(tcodec, dir, 330, 120_000);
    const up = await tc.upload(long, 'chuong-trinh-dai.mp3');
    expect(up.status).toBe(201);
    // A stop to thon-2, confirmed by both its receivers, then the next, for as long as the copies
    // are pending (at most 300 of them, 60 s).
    const confirmedAt: number[] = [];
    const deadline = Date.now() + 60_000;
    while (
      confirmedAt.length < 300 &&
      Date.now() < deadline &&
      (await getAudio(up.audio.id)).renditionsPending
    ) {
      const stop = await tc.api<{ stop: { id: string } }>('POST', '/api/stop', { zones: ['thon-2'] });
      expect(stop.status).toBe(200);
      await Promise.all(
        ['rx-a', 'rx-b'].map((id) =>
          sims
            .get(id)!
            .waitForEvent((e) => e.commandId === stop.body.stop.id && e.state === 'received', 10_000),
        ),
      );
      confirmedAt.push(Date.now());
    }
    const done = await getAudio(up.audio.id);
    expect(done.renditionsPending).toBe(false);
    expect(done.renditions.map((r) => r.codec).sort()).toEqual(['mp3', 'opus']);
    // The job's span, from its wall time and when its first copy was stored; its middle part is
    // where libav.js decodes and encodes. Stops were confirmed in it — on the controller's own
    // thread, none could be: it was not even received until the job was done.
    const encodeMs = done.renditions[0]!.encodeMs!;
    const end = Math.min(...done.renditions.map((r) => Date.parse(r.createdAt)));
    const start = end - encodeMs;
    const middle = confirmedAt.filter((t) => t > start + encodeMs * 0.3 && t < end - encodeMs * 0.3);
    expect(encodeMs).toBeGreaterThan(500);
    expect(
      middle.length,
      `${confirmedAt.length} stops confirmed, during a ${encodeMs} ms job`,
    ).toBeGreaterThan(0);
  }, 90_000);
});
