/**
 * The controller's half of the time exchange (docs/protocol.md §14): a receiver publishes a
 * TimeRequest `{v, id, t1}` on `rx/<id>/time`; the controller answers on `rx/<id>/clock` with a
 * signed TimeReply `{v, type: 'time', id, t1, t2, t3}`, QoS 0, never retained.
 *
 * - t2 is read first, before anything else is done with the message: every microsecond spent
 *   between the arrival and t2 would be counted by the receiver as network delay on the way up.
 * - t3 is read just before sealing. The signature (tens of microseconds) then adds to the way
 *   down; the receiver's bounds stay true (it only widens them), see §14.3.
 * - Answers are signed with the command key and for the receiver's own clock topic: a forged
 *   clock would move every airing, and a reply replayed onto another receiver does not verify.
 * - Each receiver is limited to a token bucket (a burst, then a steady rate); excess requests and
 *   bad ones are dropped with a debug log, never answered and never thrown.
 */
import type { Logger } from 'pino';
import type { Topics } from '../../contract/mqtt.js';
import { decodePayload, PROTOCOL_VERSION } from '../../contract/mqtt.js';
import { type TimeReply, timeRequestSchema } from '../../contract/schedule.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import type { Publisher } from '../../mqtt/client.js';
import { type Clock, systemClock } from '../../time/clock.js';

/** Requests a receiver may send at once, then per second (the reference receiver needs ≤ 48 per sync). */
export const TIME_RATE_DEFAULTS = { burst: 48, perSecond: 2 } as const;

/** Beyond this many receivers tracked, buckets that are full again are forgotten. */
const MAX_BUCKETS = 50_000;

export interface TimeResponderStats {
  answered: number;
  /** refused by the rate limit */
  limited: number;
  /** not a valid TimeRequest */
  invalid: number;
  /** from a receiver that is not adopted */
  notAdopted: number;
  /** the reply could not be published */
  failed: number;
}

export interface TimeResponder {
  /** A payload on `<root>/rx/<receiverId>/time`. Never throws. */
  handle(receiverId: string, payload: Buffer): void;
  stats(): TimeResponderStats;
}

export function createTimeResponder(deps: {
  publisher: Publisher;
  topics: Topics;
  commandKey: () => SigningKey;
  log: Logger;
  clock?: Clock | undefined;
  /** whether the receiver may be answered (adopted); absent: everyone the broker let through */
  mayAnswer?: ((receiverId: string) => boolean) | undefined;
  rate?: { burst: number; perSecond: number } | undefined;
}): TimeResponder {
  const { publisher, topics: t, log } = deps;
  const clock = deps.clock ?? systemClock;
  const rate = deps.rate ?? TIME_RATE_DEFAULTS;
  /** receiver id → tokens left and when they were counted (monotonic ms) */
  const buckets = new Map<string, { tokens: number; at: number }>();
  const stats: TimeResponderStats = { answered: 0, limited: 0, invalid: 0, notAdopted: 0, failed: 0 };

  /** Takes a token of `id`'s bucket; false when it is empty. Real time, not the injected clock. */
  function take(id: string): boolean {
    const now = performance.now();
    let b = buckets.get(id);
    if (!b) {
      if (buckets.size >= MAX_BUCKETS) prune(now);
      b = { tokens: rate.burst, at: now };
      buckets.set(id, b);
    } else {
      b.tokens = Math.min(rate.burst, b.tokens + ((now - b.at) / 1000) * rate.perSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function prune(now: number): void {
    for (const [id, b] of buckets) {
      if (b.tokens + ((now - b.at) / 1000) * rate.perSecond >= rate.burst) buckets.delete(id);
    }
  }

  return {
    handle(receiverId, payload) {
      // As early as possible: see the file comment.
      const t2 = clock.now();
      try {
        if (!take(receiverId)) {
          stats.limited++;
          log.debug({ receiverId }, 'time: request over the rate limit dropped');
          return;
        }
        const req = decodePayload(timeRequestSchema, payload);
        if (!req.ok) {
          stats.invalid++;
          log.debug({ receiverId, error: req.error }, 'time: invalid request dropped');
          return;
        }
        if (deps.mayAnswer && !deps.mayAnswer(receiverId)) {
          stats.notAdopted++;
          log.debug({ receiverId }, 'time: request from a receiver that is not adopted dropped');
          return;
        }
        const topic = t.receiverClock(receiverId);
        const key = deps.commandKey();
        const reply: TimeReply = {
          v: PROTOCOL_VERSION,
          type: 'time',
          id: req.value.id,
          t1: req.value.t1,
          t2,
          t3: clock.now(),
        };
        const sealed = seal(key, topic, reply);
        stats.answered++;
        publisher.publish(topic, sealed, { qos: 0, retain: false }).catch((err: unknown) => {
          stats.failed++;
          log.debug({ err, receiverId }, 'time: reply not published');
        });
      } catch (err) {
        stats.failed++;
        log.warn({ err, receiverId }, 'time: request handling failed');
      }
    },
    stats: () => ({ ...stats }),
  };
}
