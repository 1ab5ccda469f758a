/**
 * What the receiver under test published, as the controller received it (status, event, airing,
 * time), in order and timestamped: the kit's only window on the receiver. Cases wait for a
 * message by predicate, bounded in time; a timeout fails the case with what was seen instead.
 */
import type { ControllerWire } from '../controller.js';
import { CaseFailed } from './types.js';

export type Leaf = 'status' | 'event' | 'airing' | 'time';

export interface Seen {
  /** position in the log (0-based) */
  n: number;
  /** ms since the log began */
  atMs: number;
  leaf: Leaf;
  topic: string;
  /** the payload parsed as JSON, or null when it is not JSON */
  json: Record<string, unknown> | null;
  text: string;
}

export interface Observer {
  /** the position of the next message: `from` for the waits below */
  mark(): number;
  all(from?: number): Seen[];
  /** events (leaf `event`) since `from`, their JSON */
  events(from?: number): Record<string, unknown>[];
  /**
   * The first message since `from` that `match` accepts, waiting for it up to `timeoutMs`;
   * fails the case with `what` and the messages seen meanwhile when none comes.
   */
  waitFor(
    what: string,
    match: (m: Seen) => boolean,
    opts?: { from?: number; timeoutMs?: number },
  ): Promise<Seen>;
  /** `waitFor` on an event with `commandId` and `state` (and more fields to match) */
  waitForEvent(
    commandId: string,
    state: string,
    opts?: { from?: number; timeoutMs?: number; also?: (e: Record<string, unknown>) => boolean },
  ): Promise<Record<string, unknown>>;
  /** the receiver's messages on one line each, for a failure's evidence */
  describe(from?: number, max?: number): string;
  close(): void;
  /** when the log began, epoch ms: a message arrived at `t0 + atMs` */
  t0: number;
}

export function createObserver(wire: ControllerWire, receiverId: string): Observer {
  const t0 = Date.now();
  const log: Seen[] = [];
  const waiters = new Set<() => void>();
  const prefix = `${wire.topics.root}/rx/${receiverId}/`;
  const off = wire.onReceiverMessage((topic, payload) => {
    if (!topic.startsWith(prefix)) return;
    const leaf = topic.slice(prefix.length);
    if (leaf !== 'status' && leaf !== 'event' && leaf !== 'airing' && leaf !== 'time') return;
    const text = payload.toString('utf8');
    let json: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(text) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
    } catch {
      json = null;
    }
    log.push({ n: log.length, atMs: Date.now() - t0, leaf, topic, json, text });
    for (const w of [...waiters]) w();
  });

  const short = (m: Seen) => {
    const j = m.json;
    if (!j) return `${m.leaf} (not JSON) ${m.text.slice(0, 80)}`;
    if (m.leaf === 'event')
      return `event ${j.state}${j.reason ? `/${j.reason}` : ''} cmd=${String(j.commandId).slice(0, 12)}${j.play !== undefined ? ` play=${j.play}` : ''}`;
    if (m.leaf === 'status') return `status ${j.state} session=${j.session}`;
    if (m.leaf === 'airing')
      return `airing ${j.kind}/${j.state}${j.reason ? `/${j.reason}` : ''}${j.item !== undefined ? ` item=${j.item}` : ''}`;
    return `${m.leaf} ${m.text.slice(0, 60)}`;
  };

  const obs: Observer = {
    mark: () => log.length,
    all: (from = 0) => log.slice(from),
    events: (from = 0) => log.slice(from).flatMap((m) => (m.leaf === 'event' && m.json ? [m.json] : [])),
    waitFor(what, match, opts = {}) {
      const from = opts.from ?? 0;
      const timeoutMs = opts.timeoutMs ?? 10_000;
      return new Promise<Seen>((resolve, reject) => {
        let scanned = from;
        const check = () => {
          for (; scanned < log.length; scanned++) {
            const m = log[scanned]!;
            if (match(m)) {
              done();
              resolve(m);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new CaseFailed(
              `no ${what} within ${timeoutMs} ms; the receiver sent meanwhile: ${obs.describe(from) || 'nothing'}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async waitForEvent(commandId, state, opts = {}) {
      const m = await obs.waitFor(
        `event "${state}" for command ${commandId}`,
        (x) =>
          x.leaf === 'event' &&
          x.json?.commandId === commandId &&
          x.json.state === state &&
          (opts.also ? opts.also(x.json) : true),
        opts,
      );
      return m.json!;
    },
    describe(from = 0, max = 30) {
      const list = log.slice(from);
      const shown = list.slice(-max).map(short);
      return (list.length > max ? [`… ${list.length - max} earlier`, ...shown] : shown).join('; ');
    },
    close() {
      off();
      waiters.clear();
    },
    t0,
  };
  return obs;
}
