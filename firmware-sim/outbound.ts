/**
 * What a receiver publishes: events (built, checked against the contract, kept until
 * acknowledged) and status messages.
 *
 * Events are at-least-once: one published on a link that dies before the broker acknowledges it
 * is sent again on the next link, and events made while offline wait in the outbox. A receiver off
 * the network for long keeps only the newest.
 */
import type { MqttClient } from 'mqtt';
import {
  type EventState,
  eventSchema,
  PROTOCOL_VERSION,
  type ReceiverEvent,
  type Status,
  statusSchema,
} from '../src/contract/mqtt.js';

interface Entry {
  payload: string;
  /** connection generation it was last sent on; 0: not in flight */
  gen: number;
}

/** Events not yet acknowledged by the broker, oldest first. */
export class EventOutbox {
  readonly #entries = new Set<Entry>();

  constructor(private readonly capacity = 1000) {}

  add(payload: string): void {
    this.#entries.add({ payload, gen: 0 });
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.values().next().value;
      if (oldest) this.#entries.delete(oldest);
    }
  }

  /** Sends, in order, every entry not yet in flight on connection `gen`. */
  flush(client: MqttClient, topic: string, gen: number): void {
    for (const entry of this.#entries) {
      if (entry.gen === gen) continue;
      entry.gen = gen;
      client.publishAsync(topic, entry.payload, { qos: 1 }).then(
        () => this.#entries.delete(entry),
        () => {
          if (entry.gen === gen) entry.gen = 0; // lost with the link: resend on the next one
        },
      );
    }
  }

  /** Forgets every entry: only for the `drop-queued-events` violation (breaks.ts). */
  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * An event, checked against the contract before it is published: a simulator bug is better
 * caught at the sender than by the controller. Returns the event or the problem.
 */
export function buildEvent(
  base: { commandId: string; bulletinId: string | undefined; state: EventState; session: number; ts: string },
  extra: Partial<ReceiverEvent>,
  check = true,
): { ok: true; event: ReceiverEvent } | { ok: false; error: string } {
  const { bulletinId, ...rest } = base;
  const event = {
    v: PROTOCOL_VERSION,
    ...rest,
    ...(bulletinId === undefined ? {} : { bulletinId }),
    ...extra,
  };
  if (!check) return { ok: true, event: event as ReceiverEvent };
  const checked = eventSchema.safeParse(event);
  return checked.success
    ? { ok: true, event: checked.data }
    : { ok: false, error: `event breaks eventSchema: ${JSON.stringify(checked.error.issues)}` };
}

/** Checks a status message against the contract; returns the problem or null. */
export function statusProblem(status: Status): string | null {
  const checked = statusSchema.safeParse(status);
  return checked.success ? null : `status breaks statusSchema: ${JSON.stringify(checked.error.issues)}`;
}

/**
 * A status message. "offline" (the last will, the graceful goodbye) carries only what the
 * controller needs to order it against "online": the session.
 */
export function buildStatus(
  state: 'online' | 'offline',
  info: {
    session: number;
    ts: string;
    firmware: string;
    volume: number;
    nowPlaying: Status['nowPlaying'];
    rssi: number;
    cached: string[];
    /** ids of the controller keys trusted (undefined: left out, a deliberate violation) */
    keys: string[] | undefined;
    /** codecs advertised; empty: the field is left out */
    codecs?: readonly string[] | undefined;
  },
): Status {
  const base: Status = { v: PROTOCOL_VERSION, state, session: info.session, ts: info.ts };
  if (state === 'offline') return base;
  return {
    ...base,
    firmware: info.firmware,
    volume: info.volume,
    nowPlaying: info.nowPlaying,
    signal: { link: '4g', rssi: info.rssi },
    // The contract caps the list; the most recently used files are the ones worth announcing.
    cached: info.cached.slice(-200),
    ...(info.keys ? { keys: info.keys.slice(0, 8) } : {}),
    ...(info.codecs?.length ? { codecs: [...info.codecs] } : {}),
  };
}
