/**
 * §7.3, the file chosen for each receiver: a bulletin sent through the controller's API goes to
 * this receiver as the smallest copy (the upload or a speech rendition) among the codecs its
 * status lists — MP3 when it lists none — and the receiver plays it and reports its sha256.
 * That it lists only codecs it plays (§5) cannot be proven from outside; a listed codec it fails
 * shows here.
 */
import type { ConformanceCase } from '../types.js';
import { check } from '../types.js';

interface AudioDetail {
  id: string;
  sha256: string;
  size: number;
  mime: string;
  renditions: { codec: string; sha256: string; size: number; mime: string }[];
  renditionsPending: boolean;
}

/** The codec name receivers advertise for an upload's mime (the kit's clips are WAV). */
const codecOfMime: Record<string, string> = {
  'audio/wav': 'pcm',
  'audio/x-wav': 'pcm',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'opus',
  'audio/mp4': 'aac',
  'audio/webm': 'webm',
};

export const renditionCases: ConformanceCase[] = [
  {
    id: 'renditions.codec',
    failsWith: 'cannot-play-opus',
    section: '§7.3 (audio chosen for this receiver), §5 codecs',
    level: 'MUST',
    title:
      'a bulletin sent through the API arrives as the smallest copy among its codecs; it plays it and reports its sha256',
    timeoutMs: 40_000,
    run: async (ctx) => {
      const clip = await ctx.clip(2500);
      const status = [...ctx.seen.all()]
        .reverse()
        .find((m) => m.leaf === 'status' && m.json?.state === 'online');
      const listed = Array.isArray(status?.json?.codecs) ? (status.json.codecs as string[]) : [];
      ctx.saw(`its status lists codecs: ${listed.length ? listed.join(', ') : 'none (MP3 is assumed)'}`);
      // Renditions are made when a bulletin first uses the audio (or after an HTTP upload), and
      // the first bulletin does not wait for them: a first one makes them, the second is checked.
      const send = async (title: string) => {
        const r = await ctx.api<{ id: string }>('POST', '/api/bulletins', {
          title,
          audioId: clip.audioId,
          target: { receivers: [ctx.rx.id] },
          gapSeconds: 0,
        });
        check(r.status === 201, `the kit could not send its bulletin: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body.id;
      };
      const deadline = Date.now() + 20_000;
      let warmed = false;
      for (;;) {
        const d = await ctx.api<AudioDetail>('GET', `/api/audio/${clip.audioId}`);
        if (d.status === 200 && !d.body.renditionsPending && d.body.renditions.length > 0) break;
        if (!warmed) {
          warmed = true;
          const mark = ctx.seen.mark();
          const first = await send('Conformance renditions (first: makes the renditions)');
          ctx.sent(`bulletin ${first}: its audio's renditions are made meanwhile`);
          await ctx.seen
            .waitFor(
              'the first bulletin over',
              (m) =>
                m.leaf === 'event' &&
                m.json?.bulletinId === first &&
                ['finished', 'failed', 'rejected'].includes(String(m.json.state)),
              { from: mark, timeoutMs: 15_000 },
            )
            .catch(() => undefined);
          continue;
        }
        if (Date.now() > deadline) ctx.skip('the controller made no renditions of the clip within 20 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      const from = ctx.seen.mark();
      const sent = { body: { id: await send('Conformance renditions') } };
      ctx.sent(
        `bulletin ${sent.body.id} of audio ${clip.audioId} (WAV, ${clip.size} bytes) through POST /api/bulletins`,
      );
      // Its last word on the bulletin: finished, or failed.
      const end = await ctx.seen.waitFor(
        `finished or failed for bulletin ${sent.body.id}`,
        (m) =>
          m.leaf === 'event' &&
          m.json?.bulletinId === sent.body.id &&
          (m.json.state === 'finished' || m.json.state === 'failed' || m.json.state === 'rejected'),
        { from, timeoutMs: 30_000 },
      );
      const e = end.json!;
      const a = await ctx.api<AudioDetail>('GET', `/api/audio/${clip.audioId}`);
      check(a.status === 200, `GET /api/audio/${clip.audioId}: ${a.status}`);
      const files = [
        {
          codec: codecOfMime[a.body.mime] ?? a.body.mime,
          sha256: a.body.sha256,
          size: a.body.size,
          what: 'the upload',
        },
        ...a.body.renditions.map((r) => ({ ...r, what: `the ${r.codec} rendition` })),
      ];
      ctx.note(`the controller holds: ${files.map((f) => `${f.what} (${f.size} bytes)`).join(', ')}`);
      const playable = files.filter((f) => (listed.length ? listed : ['mp3']).includes(f.codec));
      const expected = [...playable].sort((x, y) => x.size - y.size)[0];
      check(
        e.state === 'finished',
        `it reported ${String(e.state)}${e.reason ? `/${String(e.reason)}` : ''} for the bulletin${e.reason === 'unsupported_format' ? ': it lists a codec it cannot play (§5)' : ''}`,
      );
      const played = files.find((f) => f.sha256 === e.sha256);
      ctx.saw(
        `finished with the sha256 of ${played ? played.what : `no copy of the audio (${String(e.sha256)})`}`,
      );
      check(played, `finished carries sha256 ${String(e.sha256)}, of no copy of the audio`);
      if (expected)
        check(
          played.sha256 === expected.sha256,
          `it played ${played.what}, not the smallest copy it lists (${expected.what}): the controller chose the file (§7.3), so the receiver reported bytes it was not sent`,
        );
    },
  },
];
