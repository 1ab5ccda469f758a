/**
 * The controller's set of Ed25519 signing keys and their rotation (docs/protocol.md §7.6).
 *
 * Each key is in one state:
 * - `current`: signs every command (exactly one);
 * - `next`: announced to receivers (listed in their configs, so they trust it) but not signing yet;
 * - `previous`: the key `current` replaced. Receivers still trust it, and it signs the configs
 *   until it is retired, so that a receiver that was offline during the whole rotation (and so
 *   trusts only this key) can still verify its retained config, which hands it the new key;
 * - `retired`: no longer trusted nor listed; its private key is erased, the public one kept.
 *
 * Rotation: `rotate` announces a new key (`next`) in every receiver's retained config, signed
 * with a key they already trust, waits until the online receivers report it in their status, then
 * makes it `current` (the old one becomes `previous`). `retire`, once every receiver reports the
 * new key, retires `previous` and republishes the configs, signed by the new key, without it.
 *
 * The keys live in the secrets file (`secrets.ts`, mode 0600); every change is saved before it
 * takes effect.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { TrustedKey } from './contract/mqtt.js';
import { publicKeyPem, type SigningKey } from './contract/signing.js';
import { AppError, conflict } from './errors.js';

export const KEY_STATES = ['current', 'next', 'previous', 'retired'] as const;
export type KeyState = (typeof KEY_STATES)[number];

/** One key as the secrets file keeps it. */
export const storedKeySchema = z.object({
  kid: z.string().min(1).max(64),
  state: z.enum(KEY_STATES),
  createdAt: z.string(),
  /** when it became `current` */
  activatedAt: z.string().optional(),
  retiredAt: z.string().optional(),
  publicKeyPem: z.string().min(1),
  /** PKCS#8 PEM; erased when the key is retired */
  privateKeyPem: z.string().min(1).optional(),
});
export type StoredSigningKey = z.infer<typeof storedKeySchema>;

/** A fresh key id: `k` + time in base 36 + 4 random hex digits (unique across rotations). */
function newKid(now: Date): string {
  return `k${now.getTime().toString(36)}${randomBytes(2).toString('hex')}`;
}

/** A freshly generated key, as stored. */
export function generateStoredKey(state: KeyState, now = new Date()): StoredSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    kid: newKid(now),
    state,
    createdAt: now.toISOString(),
    ...(state === 'current' ? { activatedAt: now.toISOString() } : {}),
    publicKeyPem: publicKeyPem({ publicKey }),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** A stored key from an existing private key (the single-key secrets file of earlier versions). */
export function storedKeyFromPrivatePem(
  kid: string,
  privateKeyPem: string,
  state: KeyState,
  createdAt: string,
): StoredSigningKey {
  const publicKey = createPublicKey(createPrivateKey(privateKeyPem));
  return {
    kid,
    state,
    createdAt,
    ...(state === 'current' ? { activatedAt: createdAt } : {}),
    publicKeyPem: publicKeyPem({ publicKey }),
    privateKeyPem,
  };
}

/** Checks the invariants of a key set; returns the problem or null. */
export function keySetProblem(keys: readonly StoredSigningKey[]): string | null {
  const count = (s: KeyState) => keys.filter((k) => k.state === s).length;
  if (count('current') !== 1) return `exactly one current signing key expected, found ${count('current')}`;
  if (count('next') > 1 || count('previous') > 1) return 'at most one next and one previous signing key';
  if (count('next') === 1 && count('previous') === 1)
    return 'a next key while a previous one is still trusted';
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) return 'duplicate signing key ids';
  for (const k of keys) {
    if (k.state !== 'retired' && !k.privateKeyPem)
      return `signing key ${k.kid} (${k.state}) has no private key`;
  }
  return null;
}

/** The key set, as the rest of the controller uses it. */
export interface SigningKeys {
  /** The key that signs commands. */
  commandKey(): SigningKey;
  /** The key that signs configs: `previous` during a rotation (every receiver trusts it), else `current`. */
  configKey(): SigningKey;
  /** The keys receivers must trust (current, next, previous), current first: listed in every config. */
  trusted(): TrustedKey[];
  /** Every key, retired ones included, without private keys. */
  list(): Omit<StoredSigningKey, 'privateKeyPem'>[];
  byState(state: Exclude<KeyState, 'retired'>): Omit<StoredSigningKey, 'privateKeyPem'> | undefined;
  /** Makes (or, after an interrupted rotation, returns) the `next` key. Saved. */
  announceNext(): Omit<StoredSigningKey, 'privateKeyPem'>;
  /** `next` becomes `current`, `current` becomes `previous`. Saved. */
  promoteNext(): void;
  /** Retires `previous` (erasing its private key); returns its kid. Saved. */
  retirePrevious(): string;
}

const ORDER: Record<KeyState, number> = { current: 0, next: 1, previous: 2, retired: 3 };

export function createSigningKeys(
  initial: readonly StoredSigningKey[],
  save: (keys: StoredSigningKey[]) => void,
): SigningKeys {
  let keys = initial.map((k) => ({ ...k }));
  const problem = keySetProblem(keys);
  if (problem) throw new Error(`secrets file: ${problem}`);
  const loaded = new Map<string, SigningKey>();

  function signer(k: StoredSigningKey): SigningKey {
    let key = loaded.get(k.kid);
    if (!key) {
      if (!k.privateKeyPem) throw new Error(`signing key ${k.kid} has no private key`);
      const privateKey = createPrivateKey(k.privateKeyPem);
      key = { kid: k.kid, privateKey, publicKey: createPublicKey(privateKey) };
      loaded.set(k.kid, key);
    }
    return key;
  }
  const find = (state: KeyState) => keys.find((k) => k.state === state);
  const strip = ({ privateKeyPem: _p, ...rest }: StoredSigningKey) => rest;

  function commit(next: StoredSigningKey[]): void {
    const why = keySetProblem(next);
    if (why) throw new Error(`signing keys: ${why}`);
    next.sort((a, b) => ORDER[a.state] - ORDER[b.state]);
    save(next);
    keys = next;
  }

  return {
    commandKey: () => signer(find('current')!),
    configKey: () => signer(find('previous') ?? find('current')!),
    trusted: () =>
      keys
        .filter((k) => k.state !== 'retired')
        .sort((a, b) => ORDER[a.state] - ORDER[b.state])
        .map((k) => ({ kid: k.kid, publicKeyPem: k.publicKeyPem })),
    list: () => keys.map(strip),
    byState(state) {
      const k = find(state);
      return k ? strip(k) : undefined;
    },
    announceNext() {
      const existing = find('next');
      if (existing) return strip(existing);
      if (find('previous'))
        throw new Error('signing keys: retire the previous key before announcing a new one');
      const fresh = generateStoredKey('next');
      commit([...keys, fresh]);
      return strip(fresh);
    },
    promoteNext() {
      const now = new Date().toISOString();
      if (!find('next')) throw new Error('signing keys: no next key to promote');
      commit(
        keys.map((k) =>
          k.state === 'next'
            ? { ...k, state: 'current', activatedAt: now }
            : k.state === 'current'
              ? { ...k, state: 'previous' }
              : k,
        ),
      );
    },
    retirePrevious() {
      const prev = find('previous');
      if (!prev) throw new Error('signing keys: no previous key to retire');
      const now = new Date().toISOString();
      commit(
        keys.map((k) => {
          if (k !== prev) return k;
          const { privateKeyPem: _erased, ...rest } = k;
          return { ...rest, state: 'retired' as const, retiredAt: now };
        }),
      );
      loaded.delete(prev.kid);
      return prev.kid;
    },
  };
}

/** What the key rotation needs of the fleet. */
export interface RotationFleet {
  /** every known receiver (adopted and pending): each gets a config, each must learn the keys */
  listReceivers(): { id: string; online: boolean }[];
  /** the key ids each receiver last reported trusting (since the controller started) */
  trustedKids(): ReadonlyMap<string, readonly string[]>;
  /** republishes every receiver's retained config (with the current key list) */
  publishAllConfigs(): Promise<void>;
}

/** `GET /api/system/signing-keys`. */
export interface SigningKeysOverview {
  algorithm: 'Ed25519';
  /** kid of the key that signs commands */
  current: string;
  /** `announced`: a next key is listed but not signing yet; `switched`: a previous key is still trusted */
  rotation: 'idle' | 'announced' | 'switched';
  keys: (Omit<StoredSigningKey, 'privateKeyPem'> & { trustedBy: number })[];
  receivers: {
    total: number;
    /** receivers that reported their trusted keys since the controller started */
    reporting: number;
    /**
     * During a rotation, receivers not yet known to trust the new key (first 100): `retire`
     * waits for this list to be empty. Outside a rotation, receivers not known to trust the
     * current key.
     */
    notYetTrusting: string[];
    notYetTrustingCount: number;
  };
}

export interface KeyRotation {
  /**
   * The keys and the rotation's progress. With `inScope`, the receiver figures (counts, trustedBy,
   * notYetTrusting) cover only the receivers it accepts: a zone-scoped officer sees their own.
   */
  overview(inScope?: (receiverId: string) => boolean): SigningKeysOverview;
  /**
   * Starts a rotation: announces a new key in every config, waits up to `waitMs` (default 10 s)
   * for the online receivers to report it, then makes it the key that signs commands. When some
   * online receiver has not confirmed in time, the new key stays announced and nothing switches,
   * unless `force`; calling rotate again resumes.
   */
  rotate(opts?: { waitMs?: number | undefined; force?: boolean | undefined }): Promise<SigningKeysOverview>;
  /**
   * Ends a rotation: retires the previous key and republishes the configs without it. Refused
   * while some receiver is not known to trust the new key, unless `force` (those receivers can no
   * longer verify anything and must be provisioned again).
   */
  retire(opts?: { force?: boolean | undefined }): Promise<SigningKeysOverview>;
}

const DEFAULT_WAIT_MS = 10_000;
const LISTED = 100;

export function createKeyRotation(deps: {
  keys: SigningKeys;
  fleet: RotationFleet;
  log: Logger;
}): KeyRotation {
  const { keys, fleet, log } = deps;
  // One rotation step at a time: a second request waits for the first, then sees its outcome.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    const run = chain.then(job, job);
    chain = run.catch(() => undefined);
    return run;
  };

  /** Receivers (all, or only online ones, or those `inScope` accepts) not known to trust `kid`. */
  function notTrusting(kid: string, onlineOnly = false, inScope?: (id: string) => boolean): string[] {
    const reported = fleet.trustedKids();
    return fleet
      .listReceivers()
      .filter(
        (r) => (!onlineOnly || r.online) && (!inScope || inScope(r.id)) && !reported.get(r.id)?.includes(kid),
      )
      .map((r) => r.id);
  }

  function overview(inScope?: (receiverId: string) => boolean): SigningKeysOverview {
    const reported = fleet.trustedKids();
    const receivers = inScope ? fleet.listReceivers().filter((r) => inScope(r.id)) : fleet.listReceivers();
    const current = keys.byState('current')!;
    const next = keys.byState('next');
    const previous = keys.byState('previous');
    const target = next ?? current;
    const missing = notTrusting(target.kid, false, inScope);
    return {
      algorithm: 'Ed25519',
      current: current.kid,
      rotation: next ? 'announced' : previous ? 'switched' : 'idle',
      keys: keys.list().map((k) => ({
        ...k,
        trustedBy: receivers.filter((r) => reported.get(r.id)?.includes(k.kid)).length,
      })),
      receivers: {
        total: receivers.length,
        reporting: receivers.filter((r) => reported.has(r.id)).length,
        notYetTrusting: missing.slice(0, LISTED),
        notYetTrustingCount: missing.length,
      },
    };
  }

  async function waitUntil(done: () => boolean, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (!done()) {
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  return {
    overview,

    rotate: (opts = {}) =>
      serial(async () => {
        if (keys.byState('previous')) {
          throw conflict(
            'rotation_in_progress',
            `Key ${keys.byState('previous')!.kid} is still trusted from the last rotation; retire it first.`,
          );
        }
        const next = keys.announceNext();
        log.warn({ kid: next.kid }, 'signing keys: new key announced to every receiver');
        // Every config now lists the old and the new key, signed by the old one, which all trust.
        await fleet.publishAllConfigs();
        const confirmed = await waitUntil(
          () => notTrusting(next.kid, true).length === 0,
          opts.waitMs ?? DEFAULT_WAIT_MS,
        );
        if (!confirmed && !opts.force) {
          const waiting = notTrusting(next.kid, true);
          log.warn(
            { kid: next.kid, waiting: waiting.length },
            'signing keys: online receivers have not confirmed the new key; not switching yet',
          );
          return overview();
        }
        keys.promoteNext();
        log.warn({ kid: next.kid }, 'signing keys: commands are now signed with the new key');
        return overview();
      }),

    retire: (opts = {}) =>
      serial(async () => {
        const previous = keys.byState('previous');
        if (!previous) {
          throw conflict(
            keys.byState('next') ? 'rotation_not_switched' : 'nothing_to_retire',
            keys.byState('next')
              ? 'The new key is announced but does not sign yet; call rotate again to switch to it first.'
              : 'No previous key to retire: no rotation is in progress.',
          );
        }
        const current = keys.byState('current')!;
        const holdouts = notTrusting(current.kid);
        if (holdouts.length > 0 && !opts.force) {
          throw new AppError(
            409,
            'rotation_incomplete',
            `${holdouts.length} receiver(s) have not reported trusting key ${current.kid} yet; ` +
              'they would be left unable to verify anything. Wait until they come online, or force.',
            { receivers: holdouts.slice(0, LISTED) },
          );
        }
        const kid = keys.retirePrevious();
        log.warn({ kid, forced: holdouts.length > 0 }, 'signing keys: previous key retired');
        // Signed by the current key now, listing it alone: receivers drop the retired key.
        await fleet.publishAllConfigs();
        return overview();
      }),
  };
}
