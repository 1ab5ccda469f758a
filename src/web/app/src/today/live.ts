/**
 * The receivers' live state for Today: a Server-Sent Events stream (GET /api/receivers/events: a
 * snapshot, then one event per change) so the page follows the fleet without reloading. When the
 * stream is unavailable (an old proxy buffering it, a network cut) the page polls GET /api/receivers
 * every 5 s and keeps trying the stream again; the first snapshot that arrives stops the polling.
 */
import { type Signal, signal } from '@preact/signals';
import type { LiveReceiver, LiveRemoved, LiveSnapshot, LiveZone } from '../../../../contract/live';
import { api } from '../api';
import type { Receiver } from '../types';

export type { LiveReceiver, LiveZone } from '../../../../contract/live';

export type LiveMode = 'connecting' | 'live' | 'polling';

export interface LiveStore {
  receivers: Signal<ReadonlyMap<string, LiveReceiver>>;
  /** the villages the officer may see, from the stream's snapshot (null: not from it) */
  zones: Signal<LiveZone[] | null>;
  /** whether the page is following the stream, or polling */
  mode: Signal<LiveMode>;
  /** set when a poll failed: the words to show */
  error: Signal<string>;
  /** true once a first state (snapshot or poll) arrived */
  loaded: Signal<boolean>;
  stop(): void;
}

const POLL_MS = 5000;
/** after the stream closed for good (not a passing drop EventSource retries itself) */
const RETRY_STREAM_MS = 10_000;

/**
 * Starts following the fleet. `onChange(before, after)` is told of each receiver change (for
 * refreshing what just aired when a play ends).
 */
export function startLive(
  onChange: (before: LiveReceiver | undefined, after: LiveReceiver | undefined) => void = () => {},
): LiveStore {
  const receivers = signal<ReadonlyMap<string, LiveReceiver>>(new Map());
  const zones = signal<LiveZone[] | null>(null);
  const mode = signal<LiveMode>('connecting');
  const error = signal('');
  const loaded = signal(false);
  let source: EventSource | null = null;
  let pollTimer: ReturnType<typeof setInterval> | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  function replaceAll(list: LiveReceiver[]): void {
    const before = receivers.value;
    const next = new Map(list.map((r) => [r.id, r]));
    receivers.value = next;
    loaded.value = true;
    for (const [id, r] of next)
      if (JSON.stringify(before.get(id)) !== JSON.stringify(r)) onChange(before.get(id), r);
    for (const [id, r] of before) if (!next.has(id)) onChange(r, undefined);
  }
  function upsert(r: LiveReceiver): void {
    const next = new Map(receivers.value);
    const before = next.get(r.id);
    next.set(r.id, r);
    receivers.value = next;
    onChange(before, r);
  }
  function remove(id: string): void {
    const next = new Map(receivers.value);
    const before = next.get(id);
    if (!next.delete(id)) return;
    receivers.value = next;
    onChange(before, undefined);
  }

  async function poll(): Promise<void> {
    try {
      const res = await api<{ items: Receiver[] }>('GET', '/api/receivers');
      if (stopped || mode.value === 'live') return;
      const known = receivers.value;
      replaceAll(
        res.items.map((r) => ({
          ...r,
          nowPlaying: r.nowPlaying
            ? {
                ...r.nowPlaying,
                bulletinId: r.nowPlaying.bulletinId ?? null,
                // the stream named it; polling does not: keep the title while the same bulletin plays
                title:
                  known.get(r.id)?.nowPlaying?.bulletinId === r.nowPlaying.bulletinId
                    ? (known.get(r.id)?.nowPlaying?.title ?? null)
                    : null,
              }
            : null,
        })),
      );
      error.value = '';
    } catch (err) {
      if (!stopped) error.value = (err as Error).message;
    }
  }
  function startPolling(): void {
    if (stopped || pollTimer) return;
    mode.value = 'polling';
    void poll();
    pollTimer = setInterval(() => void poll(), POLL_MS);
  }
  function stopPolling(): void {
    if (pollTimer) clearInterval(pollTimer);
    pollTimer = null;
  }

  const parse = <T>(e: Event): T | null => {
    try {
      return JSON.parse((e as MessageEvent<string>).data) as T;
    } catch {
      return null;
    }
  };

  function connect(): void {
    if (stopped) return;
    if (typeof EventSource === 'undefined') {
      startPolling();
      return;
    }
    const adopted = takeEarlyStream();
    const es = adopted?.source ?? new EventSource('/api/receivers/events');
    source = es;
    es.addEventListener('snapshot', (e) => {
      const data = parse<LiveSnapshot>(e);
      if (!data) return;
      stopPolling();
      mode.value = 'live';
      error.value = '';
      if (data.zones) zones.value = data.zones;
      replaceAll(data.receivers);
    });
    es.addEventListener('receiver', (e) => {
      const r = parse<LiveReceiver>(e);
      if (r) upsert(r);
    });
    es.addEventListener('removed', (e) => {
      const r = parse<LiveRemoved>(e);
      if (r) remove(r.id);
    });
    es.onerror = () => {
      if (stopped) return;
      // Dropped: the browser retries the stream itself (CONNECTING); meanwhile, poll. Refused (a
      // 401, a proxy answering something else: CLOSED): poll, and try the stream again later.
      startPolling();
      if (es.readyState === EventSource.CLOSED) {
        source = null;
        if (!retryTimer)
          retryTimer = setTimeout(() => {
            retryTimer = null;
            connect();
          }, RETRY_STREAM_MS);
      }
    };
    // The stream early.js opened: what it kept is handled now, in order; if it already failed,
    // as a failure now.
    if (adopted) {
      adopted.release();
      for (const e of adopted.kept) es.dispatchEvent(new MessageEvent(e.type, { data: e.data }));
      if (es.readyState === EventSource.CLOSED) es.onerror?.(new Event('error'));
    }
  }

  // Back on the network: try the stream at once rather than at the next retry.
  const onOnline = () => {
    if (source === null && !stopped) {
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      connect();
    }
  };
  window.addEventListener('online', onOnline);
  connect();

  return {
    receivers,
    zones,
    mode,
    error,
    loaded,
    stop() {
      stopped = true;
      source?.close();
      source = null;
      stopPolling();
      if (retryTimer) clearTimeout(retryTimer);
      window.removeEventListener('online', onOnline);
    },
  };
}

/** The stream public/early.js opened before the app ran, once (null: it did not). */
function takeEarlyStream(): { source: EventSource; kept: MessageEvent[]; release(): void } | null {
  const w = window as unknown as { __loalangEarlyStream?: ReturnType<typeof takeEarlyStream> };
  const early = w.__loalangEarlyStream ?? null;
  delete w.__loalangEarlyStream;
  return early;
}
