/**
 * `npm run chaos`: the fault test over both brokers (see chaos.ts). Prints each run's counts as a
 * table and as one JSON line, and exits 1 on any mismatch.
 *
 *   npm run chaos -- --receivers 20 --operations 100 --seed 7 --broker both --max-seconds 600
 */
import { parseArgs } from 'node:util';
import { killAll } from '../../bench/procs.js';
import { type BrokerKind, type ChaosResult, runChaos } from './chaos.js';

const { values } = parseArgs({
  options: {
    receivers: { type: 'string', default: '20' },
    operations: { type: 'string', default: '100' },
    seed: { type: 'string', default: String(Date.now() % 100_000) },
    broker: { type: 'string', default: 'both' },
    'max-seconds': { type: 'string', default: '600' },
    verbose: { type: 'boolean', default: false },
  },
});
const int = (name: string, v: string | undefined, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`chaos: --${name} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return n;
};
const receivers = int('receivers', values.receivers, 1, 500);
const operations = int('operations', values.operations, 1, 10_000);
const seed = int('seed', values.seed, 0, 2 ** 31);
const maxSeconds = int('max-seconds', values['max-seconds'], 60, 3600);
const brokers: BrokerKind[] =
  values.broker === 'both' ? ['embedded', 'mosquitto'] : [values.broker as BrokerKind];
if (!brokers.every((b) => b === 'embedded' || b === 'mosquitto')) {
  console.error('chaos: --broker is embedded, mosquitto or both');
  process.exit(2);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
process.on('exit', killAll);

const results: ChaosResult[] = [];
for (const broker of brokers) {
  console.log(`chaos: ${broker}, ${receivers} receivers, ${operations} operations, seed ${seed}`);
  const r = await runChaos({
    receivers,
    operations,
    seed,
    broker,
    maxSeconds,
    log: values.verbose ? (l) => console.log(`  ${l}`) : undefined,
  });
  results.push(r);
  const rows: [string, string | number][] = [
    ['broker', r.broker],
    ['seconds', r.seconds],
    ['operations', r.operations],
    ...Object.entries(r.ops).map(([k, v]) => [`  ${k}`, v] as [string, number]),
    ['bulletins', r.bulletins],
    ['deliveries', r.deliveries],
    ...Object.entries(r.byState).map(([k, v]) => [`  ${k}`, v] as [string, number]),
    ['stops', r.stops],
    ['plays to the end', r.plays],
    ['mismatches', r.mismatches.length],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  for (const m of r.mismatches.slice(0, 20))
    console.log(`  ! ${m.kind} ${m.receiverId ?? ''} ${m.bulletinId ?? m.stopId ?? ''}: ${m.detail}`);
}
console.log(
  JSON.stringify({
    chaos: results.map(({ mismatches, ...r }) => ({
      ...r,
      mismatches: mismatches.length,
      kinds: [...new Set(mismatches.map((m) => m.kind))],
    })),
  }),
);
process.exit(results.some((r) => r.mismatches.length > 0) ? 1 : 0);
