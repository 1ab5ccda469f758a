/**
 * §7.3 step 2 and §12.5, the download: bytes that do not match the signed command's sha256 or
 * size are refused; a 4xx fails at once, a 5xx is retried until it works. §4: plays on the zone
 * and all-receivers topics are heard. §5/§6: a new configured volume shows in the status.
 */
import type { AudioRef } from '../../contract/mqtt.js';
import type { CaseContext } from '../context.js';
import { type ConformanceCase, check } from '../types.js';
import { firstReport, freshClip, freshPlayable, said, serveBytes, startAudioServer } from './fixtures.js';

/** Sends a play of `audio` and expects `failed`/`reason` before anything is played. */
async function refusedDownload(
  ctx: CaseContext,
  audio: AudioRef,
  reason: string,
  timeoutMs = 10_000,
): Promise<void> {
  const play = await ctx.play({ audio });
  const from = ctx.seen.mark();
  await ctx.send(ctx.rx.topics.cmd, play);
  const first = await firstReport(ctx, play.id, ['failed', 'ready', 'started', 'expired'], {
    from,
    timeoutMs,
  });
  ctx.saw(`the play: ${said(first.json)}`);
  check(
    first.json.state === 'failed' && first.json.reason === reason,
    `expected failed/${reason}, got ${said(first.json)}`,
  );
  await ctx.barrier();
  const played = ctx.seen.events(from).some((e) => e.commandId === play.id && e.state === 'started');
  check(!played, 'it played the refused audio');
}

/** A play on `topic` is acted on: started. */
async function heardOn(ctx: CaseContext, topic: string): Promise<void> {
  const play = await ctx.play({ clip: await ctx.clip(900) });
  const from = ctx.seen.mark();
  await ctx.send(topic, play);
  const s = await firstReport(ctx, play.id, ['started', 'failed', 'rejected', 'expired'], {
    from,
    timeoutMs: 5000,
  });
  ctx.saw(`the play: ${said(s.json)}`);
  check(s.json.state === 'started', `the play on ${topic} was ${said(s.json)}, not started`);
}

export const downloadCases: ConformanceCase[] = [
  {
    id: 'download.checksum',
    failsWith: 'ignore-checksum',
    section: '§7.3 step 2; §12.5',
    level: 'MUST',
    title: "bytes whose sha256 is not the command's are refused: failed/checksum_mismatch, not played",
    run: async (ctx) => {
      const clip = await freshClip(ctx, 500);
      const audio = clip.ref(new Date(Date.now() + 300_000));
      // Another sha256 than the bytes behind the URL: a file swapped on the way.
      const wrong = audio.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      ctx.note(`audio.sha256 ${wrong} for bytes whose sha256 is ${audio.sha256}`);
      await refusedDownload(ctx, { ...audio, sha256: wrong }, 'checksum_mismatch');
    },
  },
  {
    id: 'download.size',
    failsWith: 'ignore-size',
    section: '§7.3 step 2; §12.5',
    level: 'MUST',
    title: "bytes whose count is not the command's size are refused: failed/size_mismatch, not played",
    run: async (ctx) => {
      const clip = await freshClip(ctx, 500);
      const audio = clip.ref(new Date(Date.now() + 300_000));
      ctx.note(`audio.size ${audio.size + 7} for a file of ${audio.size} bytes (sha256 right)`);
      await refusedDownload(ctx, { ...audio, size: audio.size + 7 }, 'size_mismatch');
    },
  },
  {
    id: 'download.4xx',
    failsWith: 'retry-4xx',
    section: '§7.3 step 2; §12.5',
    level: 'MUST',
    title:
      'a link the controller answers 403 (tampered signature) fails at once: failed/download_failed, no retry',
    run: async (ctx) => {
      const clip = await freshClip(ctx, 500);
      const audio = clip.ref(new Date(Date.now() + 300_000));
      const url = new URL(audio.url);
      const sig = url.searchParams.get('sig') ?? '';
      url.searchParams.set(
        'sig',
        sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')),
      );
      ctx.note('the signed URL with its sig altered: the controller answers 403 even with valid credentials');
      // "At once": a receiver that retries a 4xx would be silent until the command expires.
      await refusedDownload(ctx, { ...audio, url: url.toString() }, 'download_failed', 5000);
    },
  },
  {
    id: 'download.gone',
    failsWith: 'retry-4xx',
    section: '§7.3 step 2',
    level: 'MUST',
    title: 'audio deleted on the controller (404) fails at once: failed/download_failed, no retry',
    run: async (ctx) => {
      const clip = await freshClip(ctx, 500);
      const audio = clip.ref(new Date(Date.now() + 300_000));
      const del = await ctx.api('DELETE', `/api/audio/${encodeURIComponent(clip.audioId)}`);
      ctx.sent(`DELETE /api/audio/${clip.audioId} → ${del.status}: its link now answers 404`);
      check(
        del.status === 204,
        `the kit could not delete its audio: ${del.status} ${JSON.stringify(del.body)}`,
      );
      await refusedDownload(ctx, audio, 'download_failed', 5000);
    },
  },
  {
    id: 'download.retry_5xx',
    failsWith: 'no-retry-5xx',
    section: '§7.3 step 2',
    level: 'MUST',
    title: 'a download answered 503 twice is retried: the third try gets the bytes, and it plays',
    run: async (ctx) => {
      const server = await startAudioServer();
      try {
        const audio = await freshPlayable(ctx, 600);
        const ok = serveBytes(audio);
        const { ref, hits } = server.route(audio, (n, res, req) =>
          n <= 2 ? res.writeHead(503, { 'retry-after': '0' }).end() : ok(n, res, req),
        );
        ctx.note(`the kit's own server at ${new URL(ref.url).host} answers 503 twice, then the bytes`);
        const play = await ctx.play({ audio: ref });
        const from = ctx.seen.mark();
        await ctx.send(ctx.rx.topics.cmd, play);
        const first = await firstReport(ctx, play.id, ['failed', 'ready', 'expired'], {
          from,
          timeoutMs: 15_000,
        });
        ctx.saw(
          `the server got ${hits.length} requests (${hits.map((h) => (h.basicUser ? `Basic ${h.basicUser}` : 'no credentials')).join(', ')}); the play: ${said(first.json)}`,
        );
        check(
          first.json.state === 'ready',
          `after HTTP 503 it reported ${said(first.json)} instead of retrying`,
        );
        check(hits.length === 3, `the server got ${hits.length} requests, expected 3 (503, 503, 200)`);
        const s = await firstReport(ctx, play.id, ['started'], { from, timeoutMs: 5000 });
        ctx.saw(`the play: ${said(s.json)}`);
      } finally {
        await server.close();
      }
    },
  },
  {
    id: 'play.zone_topic',
    failsWith: 'ignore-zone-topic',
    section: '§4',
    level: 'MUST',
    title: 'a play on its zone topic (zone/<z>/cmd) is played',
    run: (ctx) => heardOn(ctx, ctx.rx.topics.zoneCmd),
  },
  {
    id: 'play.all_topic',
    failsWith: 'ignore-all-topic',
    section: '§4',
    level: 'MUST',
    title: 'a play on the all-receivers topic (all/cmd) is played',
    run: (ctx) => heardOn(ctx, ctx.rx.topics.allCmd),
  },
  {
    id: 'volume.status',
    failsWith: 'no-volume-status',
    section: '§5; §6',
    level: 'SHOULD',
    title: 'a new configured volume (PATCH /api/receivers/:id) is republished in its status',
    run: async (ctx) => {
      const path = `/api/receivers/${encodeURIComponent(ctx.rx.id)}`;
      const before = await ctx.api<{ volume?: number | null }>('GET', path);
      const was = typeof before.body?.volume === 'number' ? before.body.volume : null;
      const volume = was === 35 ? 36 : 35;
      const from = ctx.seen.mark();
      const res = await ctx.api('PATCH', path, { volume });
      ctx.sent(`PATCH ${path} {"volume": ${volume}} → ${res.status} (a new signed config, §6)`);
      check(
        res.status === 200,
        `the controller refused the volume: ${res.status} ${JSON.stringify(res.body)}`,
      );
      try {
        const m = await ctx.seen.waitFor(
          `a status with volume ${volume}`,
          (x) => x.leaf === 'status' && x.json?.state === 'online' && x.json.volume === volume,
          { from, timeoutMs: 5000 },
        );
        ctx.saw(`status volume ${String(m.json?.volume)}`);
        ctx.note("the volume heard cannot be checked from here: only the receiver's word for it");
      } finally {
        // Back to what it was, for the cases after this one.
        if (was !== null) await ctx.api('PATCH', path, { volume: was });
      }
    },
  },
];
