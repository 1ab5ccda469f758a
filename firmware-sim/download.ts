/**
 * Fetches a bulletin's audio over HTTP the way good receiver firmware does: streamed, bounded by
 * the announced size, checked against the sha256 from the signed command, retried with backoff on
 * transient trouble until the command expires, abortable (the command expires or is cancelled) and
 * with simulated faults.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AudioRef } from '../src/contract/mqtt.js';
import type { SimBreak } from './breaks.js';
import { describeError } from './util.js';

/** Download faults; the object is read at each download, so tests may change it at runtime. */
export interface DownloadFaults {
  /** how many downloads still to cut after about half their bytes (decremented at each cut) */
  dropMidDownload: number;
  /** throttle every download to this rate; 0 or undefined: as fast as the network goes */
  downloadRateBytesPerSec?: number | undefined;
  /** flip one byte of every downloaded file, so that the sha256 check fails */
  corruptBytes: boolean;
}

/** How to download: abort signal, faults, retry policy. */
export interface DownloadOptions {
  /** aborts the download at once (command expired or cancelled, receiver stopped) */
  signal: AbortSignal;
  faults: DownloadFaults;
  /**
   * attempts in all, first included. Default: no limit — retried until the command expires, which
   * aborts `signal` (a controller restart or a 4G outage can last longer than a few tries)
   */
  attempts?: number;
  /** wait before the second attempt, doubled for each further one (default 200 ms) */
  retryBaseMs?: number;
  /** the longest wait between attempts (default 30 s); each wait has ±20 % jitter */
  retryMaxMs?: number;
  /** an attempt that receives nothing for this long is abandoned and retried (default 30 s) */
  stallTimeoutMs?: number;
  /**
   * the receiver's credentials, sent with HTTP Basic: the controller serves a signed URL only to
   * an adopted receiver that proves who it is (a 401 is final, like any 4xx)
   */
  auth?: { username: string; password: string } | undefined;
  log?: Logger | undefined;
  /** deliberate protocol violations (breaks.ts), for the conformance kit's tests */
  breaks?: ReadonlySet<SimBreak> | undefined;
}

/** The event `reason` a failed download is reported with. */
export type DownloadFailureReason = 'download_failed' | 'size_mismatch' | 'checksum_mismatch';

/** The checked bytes, or why there are none (`aborted`: stopped from outside, report nothing). */
export type DownloadResult =
  | { ok: true; bytes: Buffer; attempts: number }
  | { ok: false; reason: DownloadFailureReason; detail: string; aborted: boolean };

/** Worth another attempt: network errors, HTTP errors, a dropped or stalled transfer. */
class TransientError extends Error {}

/** Not worth another attempt: the server serves other bytes than the command describes. */
class ContentError extends Error {
  constructor(
    readonly reason: 'size_mismatch' | 'checksum_mismatch' | 'download_failed',
    message: string,
  ) {
    super(message);
  }
}

/** Downloads and checks `audio`. Never throws; failures come back as a reason and a detail. */
export async function downloadAudio(audio: AudioRef, opts: DownloadOptions): Promise<DownloadResult> {
  const attempts = opts.breaks?.has('no-retry-5xx')
    ? 1
    : Math.max(1, opts.attempts ?? Number.POSITIVE_INFINITY);
  const retryBaseMs = opts.retryBaseMs ?? 200;
  const retryMaxMs = opts.retryMaxMs ?? 30_000;
  const aborted = (): DownloadResult => ({
    ok: false,
    reason: 'download_failed',
    detail: 'aborted',
    aborted: true,
  });
  for (let attempt = 1; ; attempt++) {
    if (opts.signal.aborted) return aborted();
    try {
      const bytes = await attemptOnce(audio, opts);
      return { ok: true, bytes, attempts: attempt };
    } catch (err) {
      if (opts.signal.aborted) return aborted();
      if (err instanceof ContentError)
        return { ok: false, reason: err.reason, detail: err.message, aborted: false };
      const detail = describeError(err);
      opts.log?.debug({ url: audio.url, attempt, detail }, 'sim: download attempt failed');
      if (attempt >= attempts) return { ok: false, reason: 'download_failed', detail, aborted: false };
      try {
        // Jittered, so a fleet that lost the server at once does not come back at once.
        const wait = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(attempt - 1, 30));
        await sleep(wait * (0.8 + Math.random() * 0.4), undefined, { signal: opts.signal });
      } catch {
        return aborted();
      }
    }
  }
}

async function attemptOnce(audio: AudioRef, opts: DownloadOptions): Promise<Buffer> {
  const { faults } = opts;
  const stallTimeoutMs = opts.stallTimeoutMs ?? 30_000;
  const attempt = new AbortController();
  const onAbort = () => attempt.abort(opts.signal.reason);
  opts.signal.addEventListener('abort', onAbort, { once: true });
  let stalled = false;
  let stallTimer: NodeJS.Timeout | undefined;
  const armStall = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      stalled = true;
      attempt.abort(new TransientError(`no data for ${stallTimeoutMs} ms`));
    }, stallTimeoutMs);
  };
  armStall();
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    const headers: Record<string, string> = {};
    if (opts.auth) {
      const basic = Buffer.from(`${opts.auth.username}:${opts.auth.password}`, 'utf8').toString('base64');
      headers.authorization = `Basic ${basic}`;
    }
    const res = await fetch(audio.url, { signal: attempt.signal, headers });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      // Only server trouble is worth a retry; a 401 (credentials refused), 403 (expired link) or
      // 404 will not get better.
      if (res.status >= 500 || res.status === 408 || res.status === 429 || opts.breaks?.has('retry-4xx'))
        throw new TransientError(`HTTP ${res.status}`);
      throw new ContentError('download_failed', `HTTP ${res.status}`);
    }
    const declared = res.headers.get('content-length');
    const checkSize = !opts.breaks?.has('ignore-size');
    if (checkSize && declared !== null && Number(declared) !== audio.size) {
      await res.body?.cancel().catch(() => undefined);
      throw new ContentError(
        'size_mismatch',
        `server announces ${declared} bytes, command says ${audio.size}`,
      );
    }
    if (!res.body) throw new TransientError('response without a body');
    reader = res.body.getReader();
    const bytes = await readAll(reader, audio.size, faults, attempt.signal, armStall);
    if (checkSize && bytes.byteLength !== audio.size) {
      throw new ContentError(
        'size_mismatch',
        `received ${bytes.byteLength} bytes, command says ${audio.size}`,
      );
    }
    if (faults.corruptBytes && bytes.byteLength > 0) {
      const at = Math.floor(bytes.byteLength / 2);
      bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== audio.sha256 && !opts.breaks?.has('ignore-checksum')) {
      throw new ContentError('checksum_mismatch', `sha256 ${sha256} differs from the command's`);
    }
    return bytes;
  } catch (err) {
    if (stalled && !(err instanceof ContentError))
      throw new TransientError(`no data for ${stallTimeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(stallTimer);
    opts.signal.removeEventListener('abort', onAbort);
    // Releases the HTTP connection of an abandoned transfer; harmless on a finished one.
    await reader?.cancel().catch(() => undefined);
  }
}

/**
 * Reads the body, never more than `size` bytes (a server sending more must not fill the
 * receiver's storage), applying the throttle and the mid-download cut.
 */
async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  size: number,
  faults: DownloadFaults,
  signal: AbortSignal,
  onProgress: () => void,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const began = Date.now();
  const rate =
    faults.downloadRateBytesPerSec && faults.downloadRateBytesPerSec > 0 ? faults.downloadRateBytesPerSec : 0;
  // Throttled reads are cut into slices of 1/20 s each so that the rate is smooth, not bursty.
  const slice = rate > 0 ? Math.max(1, Math.floor(rate / 20)) : Number.POSITIVE_INFINITY;
  const half = Math.max(1, Math.floor(size / 2));
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onProgress();
    for (let offset = 0; offset < value.byteLength; ) {
      let end = Math.min(value.byteLength, offset + slice);
      const cut = faults.dropMidDownload > 0 && total + (end - offset) >= half;
      if (cut) end = offset + Math.max(0, half - total);
      chunks.push(Buffer.from(value.subarray(offset, end)));
      total += end - offset;
      offset = end;
      if (cut) {
        faults.dropMidDownload -= 1;
        throw new TransientError(`connection dropped after ${total} bytes (simulated)`);
      }
      if (total > size)
        throw new ContentError('size_mismatch', `server sent more than the ${size} bytes announced`);
      if (rate > 0) {
        const wait = began + (total / rate) * 1000 - Date.now();
        if (wait > 0) await sleep(wait, undefined, { signal });
        onProgress();
      }
    }
  }
  return Buffer.concat(chunks, total);
}
