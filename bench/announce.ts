/**
 * An urgent announcement typed as text, to N simulated receivers (issue 9, "Performance"): one
 * controller (a child process, its embedded broker), N receivers in two worker processes.
 *
 * - **cold**: a text never said before: the call synthesises it (TTS), makes the small speech
 *   renditions (encoding), and every receiver downloads the rendition it can play.
 * - **warm**: the same text again: TTS and renditions come from the controller's cache; the
 *   receivers' caches are cleared first, so each downloads again (the case of a repeated alert to
 *   receivers that never had it).
 *
 * Each is timed from just before `POST /api/announcements` to the first and to the last receiver
 * playing, as the officer sees it in the live reach report (`GET /api/announcements/:id/reach`:
 * a receiver counts once it reported `started`). Synthesis and encoding times come from the
 * controller's answer (`timings`). Bytes per receiver = the size of the file each receiver
 * actually played (its sha256, checked by the receiver, looked up in the library's renditions).
 *
 *     npx tsx bench/announce.ts [N]
 */
import { pathToFileURL } from 'node:url';
import { Api } from './api.js';
import { killAll, startControllerProcess } from './procs.js';
import { registerBenchFleet } from './schedule-common.js';
import { startFleetOnWorkers, Worker } from './workers.js';

const WORKERS = 2;
/** ~30 s of speech read by the default voice (a typhoon warning as a commune would broadcast it) */
export const SPEECH_30S =
  'Thông báo khẩn của Ủy ban nhân dân xã Hướng Đạo. Hồi 14h30 ngày 25/11, bão số 3 đã đổ bộ vào ' +
  'vùng ven biển, gió giật cấp 12, tương đương 120 km/h, mưa ' +
  'từ 150 đến 250 mm. Đề nghị bà con ' +
  'các thôn Đồng Bùa, Gò Dẫu, Quan Nội khẩn trương chằng chống nhà cửa, di chuyển người già và trẻ ' +
  'em đến nơi an toàn. Khi khẩn cấp, gọi số 0912 345 678.';

export interface AnnounceRun {
  /** TTS time reported by the controller (0 when cached) */
  synthMs: number;
  /** renditions made (or found) */
  renditionMs: number;
  /** POST answered */
  apiMs: number;
  firstPlayingMs: number | null;
  lastPlayingMs: number | null;
  playing: number;
}

export interface AnnounceBenchResult {
  receivers: number;
  /** seconds of speech synthesised */
  speechSeconds: number | null;
  /** bytes each receiver downloaded and played: sha256 → { bytes, receivers, codec } */
  files: { codec: string; bytes: number; receivers: number }[];
  /** the largest of those files, the figure against the 120 KB target */
  maxBytesPerReceiver: number | null;
  originalBytes: number | null;
  cold: AnnounceRun;
  warm: AnnounceRun;
}

interface AudioDetail {
  id: string;
  sha256: string;
  size: number;
  durationMs: number | null;
  renditions?: { codec: string; sha256: string; size: number }[];
}
interface Answer {
  announcement: { id: string; audioId: string | null; bulletinId: string | null };
  timings: { synthMs: number; renditionMs: number; totalMs: number };
}
interface ReachEvent {
  counts: { total: number; heard: number; playing: number };
  complete: boolean;
}

export async function measureAnnounce(
  opts: { receivers?: number; timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<AnnounceBenchResult> {
  const n = opts.receivers ?? 1000;
  const log = opts.log ?? (() => {});
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  const left = () => {
    const ms = deadline - Date.now();
    if (ms <= 0) throw new Error('the announcement bench ran out of time');
    return ms;
  };
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const ctl = await startControllerProcess({});
    cleanups.push(() => ctl.stop());
    const api = new Api(ctl.httpUrl);
    await api.login(ctl.adminPassword);
    const { rxIds, passwords } = await registerBenchFleet(api, n, 'an');
    const workers = Array.from({ length: WORKERS }, (_, i) => new Worker(`aw${i + 1}`));
    cleanups.push(() => Promise.all(workers.map((w) => w.stop())));
    await startFleetOnWorkers(
      workers,
      ctl,
      { rxIds, passwords },
      {
        // playback 20× faster than real time, so that 30 s of speech ends between the runs
        timeFactor: 0.05,
        timeoutMs: Math.min(150_000, left()),
        // half the fleet plays Opus and MP3 (gets Opus), the other half says it plays MP3 only
        perWorker: (i) => (i === 1 ? { codecs: ['mp3'] } : {}),
      },
    );
    log(`${n} receivers online and adopted in ${WORKERS} workers`);

    // A text this controller has never said: the run id makes the cache key new.
    const text = `${SPEECH_30S} Bản tin số ${Date.now() % 100000}.`;
    const body = {
      content: { kind: 'text', text, voice: 'north' },
      target: { all: true },
      repeat: 1,
      gapSeconds: 0,
      expiresInSeconds: 600,
      confirm: { pin: ctl.adminPassword },
    };

    const run = async (label: string): Promise<{ r: AnnounceRun; answer: Answer }> => {
      const t0 = performance.now();
      const answer = await api.json<Answer>('POST', '/api/announcements', body, Math.min(120_000, left()));
      const apiMs = performance.now() - t0;
      let first: number | null = null;
      let last: number | null = null;
      let playing = 0;
      await api.stream(
        `/api/announcements/${answer.announcement.id}/reach`,
        (event, data) => {
          if (event !== 'progress') return event === 'end';
          const d = data as ReachEvent;
          const started = d.counts.playing + d.counts.heard;
          const at = performance.now() - t0;
          if (started > 0 && first === null) first = at;
          if (started >= n && last === null) last = at;
          playing = Math.max(playing, started);
          return d.complete;
        },
        Math.min(180_000, left()),
      );
      const r: AnnounceRun = {
        synthMs: answer.timings.synthMs,
        renditionMs: answer.timings.renditionMs,
        apiMs: Math.round(apiMs),
        firstPlayingMs: first === null ? null : Math.round(first),
        lastPlayingMs: last === null ? null : Math.round(last),
        playing,
      };
      log(
        `${label}: synthesis ${r.synthMs} ms, renditions ${r.renditionMs} ms, API ${r.apiMs} ms, ` +
          `first playing ${r.firstPlayingMs} ms, last ${r.lastPlayingMs} ms (${playing}/${n})`,
      );
      return { r, answer };
    };

    const cold = await run('cold');
    const audioId = cold.answer.announcement.audioId!;
    const audio = await api.json<AudioDetail>('GET', `/api/audio/${audioId}`);
    const played = new Map<string, number>();
    for (const w of workers) {
      const got = (await w.query(
        { op: 'playedOf', bulletinId: cold.answer.announcement.bulletinId! },
        30_000,
      )) as Record<string, number> | undefined;
      for (const [sha, count] of Object.entries(got ?? {})) played.set(sha, (played.get(sha) ?? 0) + count);
    }
    const files = [...played].map(([sha, receivers]) => {
      const rendition = audio.renditions?.find((x) => x.sha256 === sha);
      if (rendition) return { codec: rendition.codec, bytes: rendition.size, receivers };
      if (sha === audio.sha256) return { codec: 'original', bytes: audio.size, receivers };
      return { codec: `unknown ${sha.slice(0, 8)}`, bytes: Number.NaN, receivers };
    });

    await Promise.all(workers.map((w) => w.request({ op: 'clearCache' }, 30_000)));
    const warm = await run('warm');

    const sizes = files.map((f) => f.bytes).filter((b) => Number.isFinite(b));
    return {
      receivers: n,
      speechSeconds: audio.durationMs === null ? null : Math.round(audio.durationMs / 100) / 10,
      files,
      maxBytesPerReceiver: sizes.length ? Math.max(...sizes) : null,
      originalBytes: audio.size,
      cold: cold.r,
      warm: warm.r,
    };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  }
}

export function announceTable(r: AnnounceBenchResult): string {
  const kb = (b: number | null) => (b === null ? '—' : `${(b / 1000).toFixed(1)} kB`);
  const ms = (v: number | null) => (v === null ? '—' : `${v} ms`);
  const lines = [
    `### Urgent announcement by TTS to ${r.receivers} receivers (${r.speechSeconds ?? '?'} s of speech)`,
    '',
    '| run | synthesis | encoding | API answer | first playing | last playing | playing |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...(['cold', 'warm'] as const).map((k) => {
      const x = r[k];
      return `| ${k} | ${ms(x.synthMs)} | ${ms(x.renditionMs)} | ${ms(x.apiMs)} | ${ms(x.firstPlayingMs)} | ${ms(x.lastPlayingMs)} | ${x.playing}/${r.receivers} |`;
    }),
    '',
    `Bytes per receiver: ${r.files
      .map(
        (f) =>
          `${f.codec} ${kb(f.bytes)} × ${f.receivers}` +
          (r.speechSeconds ? ` (${kb((f.bytes * 30) / r.speechSeconds)} per 30 s)` : ''),
      )
      .join(', ')} ` +
      `(target ≤ 120 kB; the TTS original kept in the library: ${kb(r.originalBytes)}; ` +
      `a 128 kbps MP3 of the same speech would be ${kb(r.speechSeconds === null ? null : (r.speechSeconds * 128_000) / 8)}).`,
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2] ?? 1000);
  process.on('SIGINT', () => {
    killAll();
    process.exit(130);
  });
  measureAnnounce({ receivers: n, log: (l) => console.error(l) }).then(
    (r) => {
      console.log(announceTable(r));
      console.log(JSON.stringify(r));
    },
    (err: unknown) => {
      console.error(err);
      killAll();
      process.exit(1);
    },
  );
}
