/**
 * What a receiver makes of inbound payloads (commands, configs) and how it follows its config
 * with subscriptions; kept apart from the connection handling in `receiver.ts`.
 */
import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  type Command,
  commandSchema,
  decodePayload,
  envelopeSchema,
  idSchema,
  type ReceiverConfig,
  receiverConfigSchema,
  type Topics,
} from '../src/contract/mqtt.js';
import { open } from '../src/contract/signing.js';

/** The part of a receiver's state its config decides. */
export interface ConfigState {
  config: ReceiverConfig | null;
  volume: number;
  groupTopics: Set<string>;
}

/**
 * The state after a retained config payload, or null when it changes nothing: unsigned, stale
 * (lower seq than the one applied) or empty. An equal seq is applied again, because after a
 * reconnection the broker redelivers the same config and the subscriptions must be restored.
 */
export function applyConfig(
  trusted: ReadonlyMap<string, KeyObject>,
  t: Topics,
  current: ConfigState,
  payload: Buffer,
  log: Logger,
): (ConfigState & { config: ReceiverConfig }) | null {
  if (payload.byteLength === 0) {
    // A cleared retained message is not signed, so it cannot un-adopt; a signed adopted:false can.
    log.info('sim: retained config cleared; keeping the current one');
    return null;
  }
  const opened = open(trusted, receiverConfigSchema, payload);
  if (!opened.ok) {
    log.warn({ error: opened.error }, 'sim: config refused');
    return null;
  }
  const config = opened.value;
  if (current.config && config.seq < current.config.seq) {
    log.info({ seq: config.seq, applied: current.config.seq }, 'sim: stale config ignored');
    return null;
  }
  const groupTopics = new Set(config.adopted ? [...config.zones.map(t.zoneCommand), t.allCommand()] : []);
  return { config, volume: config.volume ?? current.volume, groupTopics };
}

/**
 * Brings the connection's zone and all-receiver subscriptions to `wanted`; returns the topics
 * held afterwards. Unsubscribes first, so that a receiver moved between zones never hears both.
 */
export async function syncGroupSubscriptions(
  client: MqttClient,
  wanted: ReadonlySet<string>,
  held: ReadonlySet<string>,
  log: Logger,
): Promise<Set<string>> {
  const now = new Set(held);
  const drop = [...held].filter((topic) => !wanted.has(topic));
  const add = [...wanted].filter((topic) => !held.has(topic));
  if (drop.length > 0) {
    await client.unsubscribeAsync(drop);
    for (const topic of drop) now.delete(topic);
  }
  if (add.length > 0) {
    const granted = await client.subscribeAsync(add, { qos: 1 });
    for (const g of granted) {
      if (g.qos === 128) log.warn({ topic: g.topic }, 'sim: zone subscription refused by the broker');
      else now.add(g.topic);
    }
  }
  return now;
}

/**
 * The command and bulletin ids an unverifiable command claims, so that the controller can be told
 * which command was refused. Only ids that fit the event schema are returned; nothing else of the
 * claimed body is used.
 */
export function claimedIds(payload: Buffer): { id: string; bulletinId?: string } | null {
  const envelope = decodePayload(envelopeSchema, payload);
  if (!envelope.ok) return null;
  let body: unknown;
  try {
    body = JSON.parse(envelope.value.body);
  } catch {
    return null;
  }
  if (!body || typeof body !== 'object') return null;
  const { id, bulletinId } = body as { id?: unknown; bulletinId?: unknown };
  const idOk = idSchema.safeParse(id);
  if (!idOk.success) return null;
  const bulletinOk = idSchema.safeParse(bulletinId);
  return bulletinOk.success && bulletinOk.data !== undefined
    ? { id: idOk.data, bulletinId: bulletinOk.data }
    : { id: idOk.data };
}

/** A command payload, verified and decoded, or why not. */
export type CommandVerdict =
  | { ok: true; cmd: Command }
  /**
   * `claimed`: ids to report `rejected` with: a forged or mis-keyed command (`bad_signature`), or
   * a genuinely signed one this receiver does not understand (`other`: a newer version or type).
   */
  | {
      ok: false;
      error: string;
      claimed: { id: string; bulletinId?: string } | null;
      reason: 'bad_signature' | 'other';
    };

/** Verifies and decodes a command payload. Never throws. */
export function verifyCommand(trusted: ReadonlyMap<string, KeyObject>, payload: Buffer): CommandVerdict {
  const opened = open(trusted, commandSchema, payload);
  if (opened.ok) return { ok: true, cmd: opened.value };
  if (opened.badSignature)
    return { ok: false, error: opened.error, claimed: claimedIds(payload), reason: 'bad_signature' };
  // Signed by the controller but out of this receiver's contract: say so, so the officer sees why.
  const signed = decodePayload(envelopeSchema, payload).ok;
  // A payload that is not even an envelope may not be ours: nothing to report.
  return { ok: false, error: opened.error, claimed: signed ? claimedIds(payload) : null, reason: 'other' };
}

/**
 * Verifies command payloads, remembering recent verdicts. Receivers of one simulator process share
 * one: a fleet-wide command reaches a thousand simulated receivers as the same bytes, and on real
 * hardware each box checks it on its own CPU, in parallel. Sharing the (pure) check keeps the
 * simulated fleet from charging the host's two cores a thousand Ed25519 verifications for one
 * broadcast. The verdict is the same as checking again: same bytes, same keys.
 */
export class CommandVerifier {
  readonly #byKeys = new WeakMap<ReadonlyMap<string, KeyObject>, Map<string, CommandVerdict>>();
  constructor(readonly maxEntries = 256) {}

  verify(trusted: ReadonlyMap<string, KeyObject>, payload: Buffer): CommandVerdict {
    let memo = this.#byKeys.get(trusted);
    if (!memo) {
      memo = new Map();
      this.#byKeys.set(trusted, memo);
    }
    const key = payload.toString('latin1');
    const hit = memo.get(key);
    if (hit) return hit;
    const verdict = verifyCommand(trusted, payload);
    memo.set(key, verdict);
    if (memo.size > this.maxEntries) memo.delete(memo.keys().next().value as string);
    return verdict;
  }
}
