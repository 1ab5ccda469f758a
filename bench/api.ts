/**
 * The controller's HTTP API as the bench uses it: login, JSON requests with the admin token, the
 * audio upload, and the progress stream.
 */

export interface Delivery {
  receiverId: string;
  state: string;
}
export interface Bulletin {
  id: string;
  createdAt: string;
  summary: { total: number; finished: number; played: number; byState: Record<string, number> };
  deliveries?: Delivery[];
}
export interface AsRunEntry {
  receiverId: string;
  state: string;
  at: string;
  receiverTs: string | null;
}

export interface AudioInfo {
  id: string;
  sha256: string;
  size: number;
  durationMs: number;
  mime: string;
}

export class Api {
  #token = '';

  constructor(readonly baseUrl: string) {}

  /** the bearer token of the last login */
  get token(): string {
    return this.#token;
  }

  async login(password: string): Promise<void> {
    const body = await this.json<{ token: string }>('POST', '/api/auth/login', {
      username: 'admin',
      password,
    });
    this.#token = body.token;
  }

  /** A JSON request; throws with the status and body on anything but 2xx. */
  async json<T>(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      signal: AbortSignal.timeout(timeoutMs),
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  /** Uploads audio bytes (multipart, field `file`); returns the library's record of it. */
  async uploadAudio(bytes: Buffer, fileName: string): Promise<AudioInfo> {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(bytes)], { type: 'audio/wav' }), fileName);
    const res = await fetch(`${this.baseUrl}/api/audio`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}` },
      body: form,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`POST /api/audio: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (JSON.parse(text) as { audio: AudioInfo }).audio;
  }

  /**
   * Follows a Server-Sent Events stream until `done` returns true for an event (or the stream
   * ends); calls it with each event's name and parsed data. Throws after `timeoutMs`.
   */
  async stream(
    path: string,
    done: (event: string, data: unknown) => boolean,
    timeoutMs: number,
  ): Promise<void> {
    const abort = new AbortController();
    let finished = false;
    const timer = setTimeout(
      () => abort.abort(new Error(`no end of ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      const res = await fetch(this.baseUrl + path, {
        headers: { authorization: `Bearer ${this.#token}`, accept: 'text/event-stream' },
        signal: abort.signal,
      });
      if (!res.ok || !res.body) throw new Error(`GET ${path}: HTTP ${res.status}`);
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of res.body) {
        buffered += decoder.decode(chunk, { stream: true });
        let cut = buffered.indexOf('\n\n');
        while (cut >= 0) {
          const block = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          cut = buffered.indexOf('\n\n');
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data !== undefined && done(name, JSON.parse(data))) {
            finished = true;
            abort.abort();
            return;
          }
        }
      }
    } catch (err) {
      // leaving the loop after `done` aborts the body, which may reject the iterator's return()
      if (finished || (abort.signal.aborted && !(abort.signal.reason instanceof Error))) return;
      throw abort.signal.reason instanceof Error ? abort.signal.reason : err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Polls `probe` every `intervalMs` until it returns a value; throws after `timeoutMs`. */
  async until<T>(
    what: string,
    probe: () => Promise<T | null>,
    timeoutMs: number,
    intervalMs = 100,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = 'nothing yet';
    for (;;) {
      try {
        const v = await probe();
        if (v !== null) return v;
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
