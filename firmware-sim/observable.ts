/**
 * The local, in-process face of a simulated receiver, for tests and tools: what it published
 * and played, its local events, and promise helpers that await them instead of sleeping.
 */
import { EventEmitter } from 'node:events';
import type { ReceiverConfig, ReceiverEvent } from '../src/contract/mqtt.js';
import type { PlayedEntry } from './player/player.js';
import type { AiringRecord } from './schedule/reports.js';
import type { SimReceiverEventMap } from './types.js';
import { waitForMatch } from './util.js';

/** History and await helpers; `SimReceiver` adds the receiver itself. */
export abstract class ObservableReceiver extends EventEmitter<SimReceiverEventMap> {
  readonly #events: ReceiverEvent[] = [];
  readonly #played: PlayedEntry[] = [];

  /** @param historySize events and played bulletins kept, newest */
  constructor(private readonly historySize: number) {
    super();
  }

  abstract get id(): string;
  /** Every report about its schedule and airings, oldest first. */
  abstract get airings(): readonly AiringRecord[];
  /** The last configuration applied, or null. */
  abstract get config(): ReceiverConfig | null;
  /**
   * The config a waiter may count as in force now: by default `config`; a receiver that takes a
   * config before its zone subscriptions follow answers null meanwhile, so that a test does not
   * send to a zone the receiver has not subscribed to yet.
   */
  protected get settledConfig(): ReceiverConfig | null {
    return this.config;
  }

  /** Bulletins played to the end, oldest first. */
  get played(): readonly PlayedEntry[] {
    return this.#played;
  }

  /** Every event published (or queued while offline), in order. */
  get events(): readonly ReceiverEvent[] {
    return this.#events;
  }

  /** Records a published event and emits it as 'event'. */
  protected recordEvent(event: ReceiverEvent): void {
    this.#events.push(event);
    if (this.#events.length > this.historySize) this.#events.shift();
    this.emit('event', event);
  }

  /** Records a bulletin played to the end and emits it as 'played'. */
  protected recordPlayed(entry: PlayedEntry): void {
    this.#played.push(entry);
    if (this.#played.length > this.historySize) this.#played.shift();
    this.emit('played', entry);
  }

  /**
   * Resolves with the first event matching `predicate`, looking at events already published
   * too unless `includePast` is false; rejects after `timeoutMs`.
   */
  waitForEvent(
    predicate: (event: ReceiverEvent) => boolean,
    timeoutMs = 5000,
    includePast = true,
  ): Promise<ReceiverEvent> {
    const subscribe = (listener: (event: ReceiverEvent) => void) => {
      this.on('event', listener);
      return () => this.off('event', listener);
    };
    const describe = () => {
      const last = this.#events.slice(-5).map((e) => `${e.commandId}:${e.state}`);
      return `${this.id}: no matching event within ${timeoutMs} ms (last: ${last.join(', ') || 'none'})`;
    };
    return waitForMatch(subscribe, predicate, timeoutMs, includePast ? this.#events : [], describe);
  }

  /** Resolves with the first applied config matching `predicate` (the current one counts); rejects after `timeoutMs`. */
  waitForConfig(predicate: (config: ReceiverConfig) => boolean, timeoutMs = 5000): Promise<ReceiverConfig> {
    const subscribe = (listener: (config: ReceiverConfig) => void) => {
      this.on('config', listener);
      return () => this.off('config', listener);
    };
    const describe = () => `${this.id}: no matching config within ${timeoutMs} ms`;
    const current = this.settledConfig;
    return waitForMatch(subscribe, predicate, timeoutMs, current ? [current] : [], describe);
  }

  /** Resolves with the first airing report matching `predicate` (past ones count); rejects after `timeoutMs`. */
  waitForAiring(predicate: (r: AiringRecord) => boolean, timeoutMs = 5000): Promise<AiringRecord> {
    const subscribe = (listener: (r: AiringRecord) => void) => {
      this.on('airing', listener);
      return () => this.off('airing', listener);
    };
    const describe = () => {
      const last = this.airings
        .slice(-5)
        .map((r) => `${r.airingId ?? r.version}:${r.item ?? '-'}:${r.state}`);
      return `${this.id}: no matching airing report within ${timeoutMs} ms (last: ${last.join(', ') || 'none'})`;
    };
    return waitForMatch(subscribe, predicate, timeoutMs, this.airings, describe);
  }
}
