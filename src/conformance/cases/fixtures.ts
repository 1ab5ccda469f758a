/**
 * What the download and stop cases need beyond the context: audio no receiver can have cached
 * (fresh bytes each time), and an HTTP server of the kit's own on loopback that answers a
 * receiver's download as a case wants it to — server trouble first, a transfer that stalls.
 * The receiver sends its credentials to it as to the controller (HTTP Basic): loopback only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AudioRef } from '../../contract/mqtt.js';
import { encodeWav } from '../../domain/audio/wav.js';
import { type CaseContext, type Clip, listedCodecs, uploadClip } from '../context.js';
import { check } from '../types.js';

const RATE = 8000;

/** A WAV of `durationMs` of quiet noise: its bytes (and sha256) are new every time. */
export function freshWav(durationMs: number): Buffer {
  const samples = new Float32Array(Math.round((RATE * durationMs) / 1000));
  const noise = randomBytes(samples.length);
  for (let i = 0; i < samples.length; i++) samples[i] = ((noise[i] ?? 128) - 128) / 1280;
  return encodeWav(samples, RATE);
}

/** A clip uploaded to the controller now, so the receiver cannot hold it already. */
export function freshClip(ctx: CaseContext, durationMs: number): Promise<Clip> {
  return uploadClip(
    ctx.controller,
    freshWav(durationMs),
    `kit-fresh-${durationMs}ms.wav`,
    listedCodecs(ctx.seen),
  );
}

/** One request the kit's server got. */
export interface Hit {
  /** 1-based, per route */
  n: number;
  at: number;
  /** the username of its `Authorization: Basic`, null without one */
  basicUser: string | null;
  /** resolves when the client closed the connection before the answer was complete */
  abandoned: Promise<void>;
}

/** How a route answers its `n`th request. */
export type Answer = (n: number, res: ServerResponse, req: IncomingMessage) => void;

export interface AudioServer {
  /** an audio reference served by `answer` (sha256 and size those of `bytes`, unless overridden) */
  /** serves `audio` (its bytes, duration and mime) on a path of its own, answering with `answer` */
  route(audio: PlayableAudio, answer: Answer): { ref: AudioRef; hits: Hit[]; first: Promise<Hit> };
  close(): Promise<void>;
}

/** Audio in a format the receiver plays, new bytes every time: what the kit's own server serves. */
export interface PlayableAudio {
  bytes: Buffer;
  durationMs: number;
  mime: string;
}

/**
 * Fresh audio of about `durationMs` as the receiver would be sent it (the upload, or the rendition
 * picked for its codecs, §7.3): the kit's server serves these bytes, so its codecs are honoured.
 */
export async function freshPlayable(ctx: CaseContext, durationMs: number): Promise<PlayableAudio> {
  const clip = await freshClip(ctx, durationMs);
  return { bytes: await clip.bytes(), durationMs: clip.durationMs, mime: clip.mime };
}

/** Answers with the audio's bytes, whole. */
export const serveBytes =
  (audio: PlayableAudio): Answer =>
  (_n, res) => {
    res.writeHead(200, { 'content-type': audio.mime, 'content-length': audio.bytes.length });
    res.end(audio.bytes);
  };

export async function startAudioServer(): Promise<AudioServer> {
  const routes = new Map<string, { answer: Answer; hits: Hit[]; onHit: (h: Hit) => void }>();
  const server = createServer((req, res) => {
    const route = routes.get((req.url ?? '').split('?')[0] ?? '');
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const auth = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    const user = auth
      ? Buffer.from(auth[1] ?? '', 'base64')
          .toString('utf8')
          .split(':')[0]
      : null;
    const abandoned = new Promise<void>((resolve) =>
      res.once('close', () => {
        if (!res.writableFinished) resolve();
      }),
    );
    const hit: Hit = { n: route.hits.length + 1, at: Date.now(), basicUser: user ?? null, abandoned };
    route.hits.push(hit);
    route.onHit(hit);
    route.answer(route.hits.length, res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    route(audio, answer) {
      const path = `/kit-audio/${randomBytes(8).toString('hex')}`;
      const hits: Hit[] = [];
      let onHit: (h: Hit) => void = () => {};
      const first = new Promise<Hit>((resolve) => {
        onHit = resolve;
      });
      routes.set(path, { answer, hits, onHit: (h) => onHit(h) });
      return {
        first,
        ref: {
          url: `http://127.0.0.1:${port}${path}`,
          sha256: createHash('sha256').update(audio.bytes).digest('hex'),
          size: audio.bytes.length,
          durationMs: audio.durationMs,
          mime: audio.mime,
        },
        hits,
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The first report about `commandId` since `from` whose state is one of `states` (fails the case
 * when none comes within `timeoutMs`): what a case checks first, to fail at once.
 */
export async function firstReport(
  ctx: CaseContext,
  commandId: string,
  states: readonly string[],
  opts: { from: number; timeoutMs?: number },
): Promise<{ n: number; json: Record<string, unknown> }> {
  const m = await ctx.seen.waitFor(
    `report (${states.join(', ')}) about command ${commandId}`,
    (x) => x.leaf === 'event' && x.json?.commandId === commandId && states.includes(String(x.json.state)),
    opts,
  );
  return { n: m.n, json: m.json! };
}

/**
 * After the receiver said all it had to about what came before (a barrier, §7.4), `commandId`
 * has not started since `from`; else the case fails with `message`.
 */
export async function neverStarted(
  ctx: CaseContext,
  commandId: string,
  from: number,
  message: string,
): Promise<void> {
  await ctx.barrier();
  const started = ctx.seen.events(from).some((e) => e.commandId === commandId && e.state === 'started');
  check(!started, message);
}

/** An event in one line for the evidence: `preempted by=… play=1 offsetMs=…`. */
export function said(e: Record<string, unknown>): string {
  const { v: _v, commandId: _c, bulletinId: _b, session: _s, ts: _t, state, ...rest } = e;
  const extra = Object.entries(rest).map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`);
  return [String(state), ...extra].join(' ');
}
