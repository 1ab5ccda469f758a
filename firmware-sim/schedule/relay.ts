/**
 * A relay (tiếp sóng): an HTTP GET to a live stream (Icecast/HTTP MP3 or AAC) whose bytes are read
 * for the slot and discarded (the simulator has no loudspeaker). No receiver credentials are sent:
 * the stream is a third party's.
 */
import { describeError } from '../util.js';

/** An open stream; `close()` ends it (the slot is over, or the airing was interrupted). */
export interface OpenStream {
  close(): void;
  /** bytes read so far */
  readonly bytes: number;
  /** resolves when the server ends the stream or the connection breaks (never rejects) */
  readonly ended: Promise<string>;
}

/**
 * Connects to `url`. Resolves with the stream once the server answered 2xx, or with the reason it
 * could not (connection refused, non-2xx, no answer within `connectTimeoutMs`).
 */
export async function openStream(
  url: string,
  signal: AbortSignal,
  connectTimeoutMs: number,
): Promise<{ ok: true; stream: OpenStream } | { ok: false; detail: string }> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(
    () => ac.abort(new Error(`no answer within ${connectTimeoutMs} ms`)),
    connectTimeoutMs,
  );
  let res: Response;
  try {
    res = await fetch(url, { signal: ac.signal, headers: { 'icy-metadata': '0' } });
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    return { ok: false, detail: describeError(err) };
  } finally {
    clearTimeout(timer);
  }
  if (!res.ok || !res.body) {
    signal.removeEventListener('abort', onAbort);
    await res.body?.cancel().catch(() => undefined);
    return { ok: false, detail: `HTTP ${res.status}` };
  }
  const reader = res.body.getReader();
  let bytes = 0;
  const ended = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'stream ended by the server';
        bytes += value.byteLength;
      }
    } catch (err) {
      return describeError(err);
    }
  })();
  const stream: OpenStream = {
    close() {
      signal.removeEventListener('abort', onAbort);
      ac.abort();
      reader.cancel().catch(() => undefined);
    },
    get bytes() {
      return bytes;
    },
    ended,
  };
  return { ok: true, stream };
}
