/**
 * What a receiver makes of inbound payloads (commands, configs) and how it follows its config
 * with subscriptions; kept apart from the connection handling in `receiver.ts`.
 *
 * The checks a firmware must make, in order (docs/protocol.md §7.1): size, envelope, known key,
 * signature over the arrival topic and the body, schema (here), then replay by id, expiry and
 * not-yet-valid (in `receiver.ts`, which holds the receiver's clock and memory).
 */
import type { KeyObject } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  type Command,
  commandSchema,
  envelopeSchema,
  type FailureReason,
  idSchema,
  MAX_PAYLOAD_BYTES,
  type ReceiverConfig,
  receiverConfigSchema,
  type Topics,
  type TrustedKey,
} from '../src/contract/mqtt.js';
import { open, publicKeyFromPem } from '../src/contract/signing.js';
import type { SimBreak } from './breaks.js';
import { subscribeGranted } from './link.js';

/** The part of a receiver's state its config decides. */
export interface ConfigState {
  config: ReceiverConfig | null;
  volume: number;
  groupTopics: Set<string>;
  /** the controller keys trusted (by kid) */
  trusted: ReadonlyMap<string, KeyObject>;
}

/** The trusted-key map for a config's key list; throws when a key is not an Ed25519 public key. */
export function trustedKeyMap(keys: readonly TrustedKey[]): ReadonlyMap<string, KeyObject> {
  return new Map(keys.map((k) => [k.kid, publicKeyFromPem(k.publicKeyPem)]));
}

/**
 * The state after a retained config payload that arrived on `topic`, or null when it changes
 * nothing: unsigned, not verifiable with a trusted key, signed for another receiver's topic, stale
 * (lower seq than the one applied) or empty. An equal seq is applied again, because after a
 * reconnection the broker redelivers the same config and the subscriptions must be restored.
 * A config listing `keys` replaces the trusted set: it was verified with a key already trusted.
 */
export function applyConfig(
  topic: string,
  t: Topics,
  current: ConfigState,
  payload: Buffer,
  log: Logger,
  keySet: (keys: readonly TrustedKey[]) => ReadonlyMap<string, KeyObject> = trustedKeyMap,
  /** deliberate violations (breaks.ts), for the conformance kit's tests; empty normally */
  breaks: ReadonlySet<SimBreak> = new Set(),
): (ConfigState & { config: ReceiverConfig }) | null {
  if (payload.byteLength === 0) {
    if (breaks.has('obey-empty-config') && current.config) {
      const config = { ...current.config, adopted: false, zones: [] };
      return { ...current, config, groupTopics: new Set() };
    }
    // A cleared retained message is not signed, so it cannot un-adopt; a signed adopted:false can.
    log.info('sim: retained config cleared; keeping the current one');
    return null;
  }
  let opened = open(current.trusted, topic, receiverConfigSchema, payload);
  if (!opened.ok && opened.reason === 'wrong_topic' && breaks.has('accept-config-wrong-topic')) {
    const claimed = (JSON.parse(payload.toString('utf8')) as { topic: string }).topic;
    opened = open(current.trusted, claimed, receiverConfigSchema, payload);
  }
  if (!opened.ok) {
    log.warn({ error: opened.error, reason: opened.reason }, 'sim: config refused');
    return null;
  }
  const config = opened.value;
  if (current.config && config.seq < current.config.seq && !breaks.has('ignore-config-seq')) {
    log.info({ seq: config.seq, applied: current.config.seq }, 'sim: stale config ignored');
    return null;
  }
  let trusted = current.trusted;
  if (config.keys && !breaks.has('ignore-key-rotation')) {
    try {
      trusted = keySet(config.keys);
      if (breaks.has('keep-retired-key')) trusted = new Map([...current.trusted, ...trusted]);
    } catch (err) {
      // All or nothing: a config whose key list cannot be used is not applied at all.
      log.error({ err }, 'sim: config lists a key that is not an Ed25519 public key; refused');
      return null;
    }
  }
  const groupTopics = new Set(config.adopted ? [...config.zones.map(t.zoneCommand), t.allCommand()] : []);
  return { config, volume: config.volume ?? current.volume, groupTopics, trusted };
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
    const granted = await subscribeGranted(client, add, 1);
    for (const g of granted) {
      if (g.qos === 128) log.warn({ topic: g.topic }, 'sim: zone subscription refused by the broker');
      else now.add(g.topic);
    }
  }
  return now;
}

/**
 * The command and bulletin ids an unverified payload claims — inside an envelope's body, or at the
 * top of a plain (unsigned) JSON command — so that the controller can be told which command was
 * refused. Used for that report only: nothing else of an unverified payload is ever acted on.
 * Only ids that fit the event schema are returned; null when there is none.
 */
export function claimedIds(payload: Buffer): { id: string; bulletinId?: string } | null {
  if (payload.byteLength > MAX_PAYLOAD_BYTES) return null;
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  };
  let body = parse(payload.toString('utf8'));
  const envelope = envelopeSchema.safeParse(body);
  if (envelope.success) body = parse(envelope.data.body);
  if (!body || typeof body !== 'object') return null;
  const { id, bulletinId } = body as { id?: unknown; bulletinId?: unknown };
  const idOk = idSchema.safeParse(id);
  if (!idOk.success) return null;
  const bulletinOk = idSchema.safeParse(bulletinId);
  return bulletinOk.success && bulletinOk.data !== undefined
    ? { id: idOk.data, bulletinId: bulletinOk.data }
    : { id: idOk.data };
}

/** Why a command payload was refused, as the `reason` of its `rejected` event. */
export type RefusalReason = Extract<
  FailureReason,
  'unsigned' | 'unknown_key' | 'bad_signature' | 'wrong_topic' | 'other'
>;

/** A command payload, verified and decoded, or why not. */
export type CommandVerdict =
  | { ok: true; cmd: Command }
  /**
   * `claimed`: ids to report `rejected` with (null: nothing to report, e.g. not JSON at all).
   * `reason`: unsigned, unknown_key, bad_signature, wrong_topic, or `other` for a genuinely signed
   * command this receiver does not understand (a newer version or type).
   */
  | { ok: false; error: string; claimed: { id: string; bulletinId?: string } | null; reason: RefusalReason };

/** Verifies and decodes a command payload that arrived on `topic`. Never throws. */
export function verifyCommand(
  trusted: ReadonlyMap<string, KeyObject>,
  topic: string,
  payload: Buffer,
): CommandVerdict {
  const opened = open(trusted, topic, commandSchema, payload);
  if (opened.ok) return { ok: true, cmd: opened.value };
  // Too large or not a JSON object: it may not even be meant as a command; nothing to report.
  if (opened.reason === 'malformed')
    return { ok: false, error: opened.error, claimed: null, reason: 'other' };
  const reason = opened.reason === 'invalid' ? 'other' : opened.reason;
  return { ok: false, error: opened.error, claimed: claimedIds(payload), reason };
}

/**
 * Verifies command payloads, remembering recent verdicts. Receivers of one simulator process share
 * one: a fleet-wide command reaches a thousand simulated receivers as the same bytes on the same
 * topic, and on real hardware each box checks it on its own CPU, in parallel. Sharing the (pure)
 * check keeps the simulated fleet from charging the host's two cores a thousand Ed25519
 * verifications for one broadcast. The verdict is the same as checking again: same bytes, same
 * topic, same keys. Only the signature and schema are shared; replay and time checks are each
 * receiver's own.
 */
export class CommandVerifier {
  readonly #byKeys = new WeakMap<ReadonlyMap<string, KeyObject>, Map<string, CommandVerdict>>();
  /** key sets by content, so receivers handed the same keys by their configs share verdicts */
  readonly #keySets = new Map<string, ReadonlyMap<string, KeyObject>>();
  constructor(readonly maxEntries = 256) {}

  verify(trusted: ReadonlyMap<string, KeyObject>, topic: string, payload: Buffer): CommandVerdict {
    let memo = this.#byKeys.get(trusted);
    if (!memo) {
      memo = new Map();
      this.#byKeys.set(trusted, memo);
    }
    const key = `${topic}\n${payload.toString('latin1')}`;
    const hit = memo.get(key);
    if (hit) return hit;
    const verdict = verifyCommand(trusted, topic, payload);
    memo.set(key, verdict);
    if (memo.size > this.maxEntries) memo.delete(memo.keys().next().value as string);
    return verdict;
  }

  /** The trusted-key map for `keys`: the same object for the same keys. Throws on a bad key. */
  keySet(keys: readonly TrustedKey[]): ReadonlyMap<string, KeyObject> {
    const id = keys.map((k) => `${k.kid}\n${k.publicKeyPem}`).join('\n');
    let set = this.#keySets.get(id);
    if (!set) {
      set = trustedKeyMap(keys);
      this.#keySets.set(id, set);
      if (this.#keySets.size > 16) this.#keySets.delete(this.#keySets.keys().next().value as string);
    }
    return set;
  }
}
