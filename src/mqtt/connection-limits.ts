/**
 * Per-address limits on the embedded broker's TCP connections: how many may be open at once from
 * one address, and how many new ones one address may open in a second. A connection over either
 * is closed at once, before a byte of MQTT is read.
 *
 * Why per address and not global: a global limit on connections or connection attempts is a lever
 * for anyone who can reach the port — flood it, and the genuine fleet, reconnecting after a power
 * or network outage, is locked out with the attacker. Per address, an attacker holds only its own
 * share, and receivers elsewhere connect as usual. Receivers behind one carrier-grade NAT address
 * share that address's share, so the defaults are generous and configurable
 * (MQTT_MAX_CONNECTIONS_PER_IP, MQTT_CONNECT_RATE_PER_S), and a receiver refused by the rate limit
 * retries with its backoff (docs/protocol.md §2) and gets in the next second.
 *
 * IPv6 addresses are counted by their /64 prefix: one subscriber usually holds a whole /64, so
 * counting single addresses would give it 2^64 shares.
 */
import { isIPv6 } from 'node:net';

export interface ConnectionLimitOptions {
  /** open connections from one address (0: no limit) */
  maxPerAddress: number;
  /** new connections from one address per second (0: no limit) */
  ratePerSecond: number;
  /** addresses the limits do not apply to (a local TLS proxy through which every receiver comes) */
  exempt?: readonly string[];
  /** clock, for tests */
  now?: () => number;
}

/** Why a connection was refused, for the log. */
export type Refusal = 'too many connections from this address' | 'too many new connections from this address';

/** Expands an IPv6 address and keeps its first four groups (the /64 prefix). */
function ipv6Prefix64(address: string): string {
  const bare = address.split('%')[0] ?? address; // without a zone id (fe80::1%eth0)
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const prefix = groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16));
  return `${prefix.join(':')}::/64`;
}

/** The key an address is counted under: IPv4 (also IPv4-mapped IPv6) as is, IPv6 by /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  return isIPv6(address) ? ipv6Prefix64(address) : address;
}

/** Counts connections per address; `admit` decides, `release` is called when one closes. */
export function createConnectionLimits(opts: ConnectionLimitOptions) {
  const now = opts.now ?? Date.now;
  const exempt = new Set((opts.exempt ?? []).map(addressKey));
  const open = new Map<string, number>();
  /**
   * Attempts in the current one-second window. The whole map is dropped when the window turns,
   * so it never holds more than the addresses seen in one second.
   */
  let attempts = new Map<string, number>();
  let windowStart = now();

  return {
    /** Whether a new connection from `address` may go on; if so, it counts until `release`. */
    admit(address: string | undefined): { ok: true; key: string | null } | { ok: false; reason: Refusal } {
      if (address === undefined) return { ok: true, key: null }; // already closed by the peer
      const key = addressKey(address);
      if (exempt.has(key)) return { ok: true, key: null };
      if (opts.ratePerSecond > 0) {
        const t = now();
        if (t - windowStart >= 1000) {
          attempts = new Map();
          windowStart = t;
        }
        const n = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, n);
        if (n > opts.ratePerSecond)
          return { ok: false, reason: 'too many new connections from this address' };
      }
      const current = open.get(key) ?? 0;
      if (opts.maxPerAddress > 0 && current >= opts.maxPerAddress)
        return { ok: false, reason: 'too many connections from this address' };
      open.set(key, current + 1);
      return { ok: true, key };
    },
    /** An admitted connection closed. */
    release(key: string | null): void {
      if (key === null) return;
      const n = (open.get(key) ?? 1) - 1;
      if (n <= 0) open.delete(key);
      else open.set(key, n);
    },
    /** open connections counted for `address` (for tests and diagnostics) */
    openFrom(address: string): number {
      return open.get(addressKey(address)) ?? 0;
    },
  };
}
export type ConnectionLimits = ReturnType<typeof createConnectionLimits>;
