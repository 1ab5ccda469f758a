/**
 * How the clock model and the time exchange plug into a SimReceiver: the link's one-way delays
 * (./clockmodel.ts) and the ClockSync (./timesync.ts), bound to the receiver's connection
 * lifecycle. Kept here so the receiver itself only routes messages through it.
 */
import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Topics } from '../src/contract/mqtt.js';
import type { SimBreak } from './breaks.js';
import { DelayLine, type OneWayDelays } from './clockmodel.js';
import { ClockSync, type ClockSyncOptions, type SyncState } from './timesync.js';

/** The state shown when the time exchange is off. */
export function notSyncing(): SyncState {
  return {
    synced: false,
    offsetMs: 0,
    errorBoundMs: Number.POSITIVE_INFINITY,
    driftPpm: null,
    lastDelayMs: null,
    samples: 0,
    bursts: 0,
    ignored: { forged: 0, unsolicited: 0, late: 0, invalid: 0 },
  };
}

export class TimeLink {
  readonly sync: ClockSync | null;
  readonly #up: DelayLine | null;
  readonly #down: DelayLine | null;

  constructor(
    private readonly deps: {
      receiverId: string;
      topics: Topics;
      delay: OneWayDelays | undefined;
      timeSync: boolean | ClockSyncOptions | undefined;
      /** own clock */
      now: () => number;
      trusted: () => ReadonlyMap<string, KeyObject>;
      /** the current connection's client and number */
      link: () => { client: MqttClient | null; generation: number };
      realMs: (ms: number) => number;
      onSynced: (state: SyncState) => void;
      /** deliberate protocol violations (./breaks.ts); empty normally */
      breaks?: ReadonlySet<SimBreak>;
      log: Logger;
    },
  ) {
    this.#up = deps.delay ? new DelayLine(deps.delay.upMs) : null;
    this.#down = deps.delay ? new DelayLine(deps.delay.downMs) : null;
    this.sync = deps.timeSync
      ? new ClockSync(
          {
            receiverId: deps.receiverId,
            topics: deps.topics,
            now: deps.now,
            trusted: deps.trusted,
            send: (topic, payload) => this.#send(topic, payload),
            realMs: deps.realMs,
            onSynced: deps.onSynced,
            breaks: deps.breaks ?? new Set(),
            log: deps.log,
          },
          deps.timeSync === true ? {} : deps.timeSync,
        )
      : null;
  }

  /** Topics the receiver must subscribe to for the exchange. */
  get topics(): string[] {
    return this.sync ? [this.sync.clockTopic] : [];
  }

  get state(): SyncState {
    return this.sync?.state ?? notSyncing();
  }

  controllerNow(own: number): number {
    return this.sync ? this.sync.controllerNow(own) : own;
  }

  /** The receiver is online: sync now. */
  online(): void {
    this.sync?.start();
  }

  /** The connection is gone (or the receiver stopped): what the network held is lost. */
  halt(): void {
    this.sync?.pause();
    this.#up?.clear();
    this.#down?.clear();
  }

  /** A message as the network hands it over: after the down delay, if any; time answers go to the sync. */
  arrive(topic: string, payload: Buffer, deliver: (topic: string, payload: Buffer) => void): void {
    if (!this.#down) {
      this.#handle(topic, payload, deliver);
      return;
    }
    const gen = this.deps.link().generation;
    this.#down.push(() => {
      // a message held on a connection that has since died never arrives
      if (gen === this.deps.link().generation) this.#handle(topic, payload, deliver);
    });
  }

  #handle(topic: string, payload: Buffer, deliver: (topic: string, payload: Buffer) => void): void {
    const sync = this.sync;
    if (!sync || topic !== sync.clockTopic) {
      deliver(topic, payload);
      return;
    }
    // t4 first: anything done before it would count as delay on the way down
    const t4 = this.deps.now();
    try {
      sync.handleReply(payload, t4);
    } catch (err) {
      this.deps.log.error({ err }, 'sim: time answer handling failed');
    }
  }

  #send(topic: string, payload: string): void {
    const gen = this.deps.link().generation;
    const publish = () => {
      const { client, generation } = this.deps.link();
      if (client && generation === gen) client.publish(topic, payload, { qos: 0 }, () => {});
    };
    if (this.#up) this.#up.push(publish);
    else publish();
  }
}
