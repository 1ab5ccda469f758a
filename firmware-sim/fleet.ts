/**
 * A fleet of simulated receivers on one broker, for demos, benchmarks and fleet-wide tests.
 */
import { CommandVerifier } from './inbound.js';
import { SimReceiver, type SimReceiverOptions } from './receiver.js';
import { mapLimit } from './util.js';

/** startFleet() options: the receiver options they all share, and fleet-wide ones. */
export interface FleetOptions extends Omit<SimReceiverOptions, 'id'> {
  count: number;
  /** ids are `${idPrefix}-${n}`, n zero-padded to at least two digits (default 'rx') */
  idPrefix?: string | undefined;
  /** first n (default 1) */
  firstNumber?: number | undefined;
  /** receivers connecting at once (default 50); a thousand at once overwhelms small brokers */
  concurrency?: number | undefined;
  /** per-receiver overrides, e.g. faults for a few of them */
  configure?: ((id: string, index: number) => Partial<SimReceiverOptions>) | undefined;
  /** called with each receiver before it starts, e.g. to attach listeners */
  onCreate?: ((rx: SimReceiver) => void) | undefined;
}

/** A running fleet. */
export interface Fleet {
  receivers: SimReceiver[];
  byId(id: string): SimReceiver | undefined;
  /** Stops every receiver gracefully ("offline" published), with the same limited concurrency. */
  stop(): Promise<void>;
}

/** The ids a fleet of `count` gets: `rx-01`…`rx-14`, or `rx-0001`… for a thousand. */
export function fleetIds(count: number, idPrefix = 'rx', firstNumber = 1): string[] {
  const width = Math.max(2, String(firstNumber + count - 1).length);
  return Array.from(
    { length: count },
    (_, i) => `${idPrefix}-${String(firstNumber + i).padStart(width, '0')}`,
  );
}

/**
 * Creates and starts `count` receivers. Resolves once all are online; if any fails to come
 * online, stops them all and rejects.
 */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const { count, idPrefix, firstNumber, concurrency = 50, configure, onCreate, ...common } = opts;
  const commandVerifier = common.commandVerifier ?? new CommandVerifier();
  const receivers = fleetIds(count, idPrefix, firstNumber).map(
    (id, index) => new SimReceiver({ ...common, commandVerifier, id, ...configure?.(id, index) }),
  );
  if (onCreate) for (const rx of receivers) onCreate(rx);
  const byId = new Map(receivers.map((rx) => [rx.id, rx]));
  const fleet: Fleet = {
    receivers,
    byId: (id) => byId.get(id),
    async stop() {
      await mapLimit(receivers, concurrency, (rx) => rx.stop());
    },
  };
  const started = await mapLimit(receivers, concurrency, (rx) => rx.start());
  const failures = started.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  if (failures.length > 0) {
    await fleet.stop();
    throw new AggregateError(failures, `${failures.length} of ${count} receivers did not come online`);
  }
  return fleet;
}
