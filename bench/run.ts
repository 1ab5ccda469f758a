/**
 * `npm run bench`: how long a fleet-wide emergency takes to start on every receiver, against the
 * floor set by the MQTT broker itself, for N receivers on the embedded broker and on Mosquitto.
 *
 *   npm run bench                                   # N = 100 and 1000, embedded and Mosquitto, 10 rounds
 *   npm run bench -- --n 100 --brokers embedded --rounds 3
 *   npm run bench -- --n 1000 --brokers mosquitto --cpu-prof /tmp/prof   # controller CPU profile
 *   npm run bench -- --only schedule                # only the schedule benchmarks (bench/schedule-*.ts)
 *   npm run bench -- --only bulletin                # only the bulletin benchmark
 *   npm run bench -- --only announce                # only the urgent announcement (TTS) benchmark
 *   npm run bench -- --only web                     # only the phone app's first load on slow 4G (Chromium)
 *
 * Progress goes to stderr; stdout gets a Markdown table and, as its last line, one JSON object.
 * See bench/README.md for what is measured and how.
 */
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findMosquitto } from '../test/helpers/mosquitto.js';
import { type AnnounceBenchResult, announceTable, measureAnnounce } from './announce.js';
import { killAll } from './procs.js';
import { runConfiguration } from './scenario.js';
import { runScheduleBench, type ScheduleBenchResult, scheduleTables } from './schedule-report.js';
import { type BrokerKind, type CpuPerRound, emptyResult, type RunResult } from './stats.js';
import { measureWebLoad, type WebLoadResult, webLoadTable } from './web-load.js';

const TARGET_RATIO = 1.3;

function parseCli() {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '100,1000' },
      brokers: { type: 'string', default: 'embedded,mosquitto' },
      rounds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      'play-ms': { type: 'string', default: '3000' },
      timeout: { type: 'string' },
      'cpu-prof': { type: 'string' },
      direct: { type: 'boolean', default: false },
      only: { type: 'string' },
      'schedule-start-n': { type: 'string', default: '100' },
      'schedule-n': { type: 'string', default: '1000' },
      'schedule-rounds': { type: 'string', default: '5' },
      'timer-seconds': { type: 'string', default: '20' },
      'announce-n': { type: 'string', default: '1000' },
      'web-villages': { type: 'string', default: '14' },
      'web-per-village': { type: 'string', default: '3' },
      'web-rounds': { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      'npm run bench -- [--n 100,1000] [--brokers embedded,mosquitto] [--rounds 10] [--warmup 1]\n' +
        '                 [--play-ms 3000] [--direct] [--timeout <s per configuration>] [--cpu-prof <dir>]\n' +
        '                 [--only bulletin|schedule] [--schedule-start-n 100] [--schedule-n 1000]\n' +
        '                 [--schedule-rounds 5] [--timer-seconds 20] [--only announce] [--announce-n 1000]\n' +
        '                 [--only web] [--web-villages 14] [--web-per-village 3] [--web-rounds 3]',
    );
    process.exit(0);
  }
  const int = (name: string, v: string, min: number, max: number) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min || x > max)
      throw new Error(`--${name}: an integer ${min}–${max}, not "${v}"`);
    return x;
  };
  const ns = values.n.split(',').map((v) => int('n', v.trim(), 1, 5000));
  const brokers = values.brokers.split(',').map((b) => b.trim());
  for (const b of brokers) {
    if (b !== 'embedded' && b !== 'mosquitto')
      throw new Error(`--brokers: embedded or mosquitto, not "${b}"`);
  }
  const rounds = int('rounds', values.rounds, 1, 1000);
  const only = values.only;
  if (only !== undefined && !['bulletin', 'schedule', 'announce', 'web'].includes(only))
    throw new Error(`--only: bulletin, schedule, announce or web, not "${only}"`);
  return {
    bulletin: only === undefined || only === 'bulletin',
    announce:
      only === undefined || only === 'announce'
        ? { n: int('announce-n', values['announce-n'], 1, 5000) }
        : null,
    web:
      only === undefined || only === 'web'
        ? {
            villages: int('web-villages', values['web-villages'], 1, 200),
            perVillage: int('web-per-village', values['web-per-village'], 1, 50),
            rounds: int('web-rounds', values['web-rounds'], 1, 20),
          }
        : null,
    schedule:
      only === undefined || only === 'schedule'
        ? {
            startN: int('schedule-start-n', values['schedule-start-n'], 1, 1000),
            fleetN: int('schedule-n', values['schedule-n'], 1, 5000),
            rounds: int('schedule-rounds', values['schedule-rounds'], 1, 100),
            timerSeconds: int('timer-seconds', values['timer-seconds'], 3, 600),
          }
        : null,
    ns,
    brokers: brokers as BrokerKind[],
    rounds,
    warmup: int('warmup', values.warmup, 0, 100),
    playMs: int('play-ms', values['play-ms'], 1, 60_000),
    timeoutMs: values.timeout
      ? int('timeout', values.timeout, 10, 3600) * 1000
      : Math.max(180, 60 + rounds * 6) * 1000,
    cpuProf: values['cpu-prof'] ? resolve(values['cpu-prof']) : null,
    direct: values.direct,
  };
}

const fmt = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '–' : v.toFixed(digits);

function markdown(rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(rows[0] ?? []), line(rows[0]?.map(() => '---') ?? []), ...rows.slice(1).map(line)].join('\n');
}

/** The figures, one row per configuration. */
function resultsTable(runs: RunResult[]): string {
  return markdown([
    [
      'N',
      'broker',
      'rounds',
      'floor p50 ms',
      'floor p99 ms',
      'loalang p50 ms',
      'loalang p99 ms',
      'ratio p50',
      'ctl-recorded p50 / p99 ms',
      'ctl RSS MB: start / N idle',
      'ctl peak MB',
      'status',
    ],
    ...runs.map((r) => [
      String(r.n),
      r.broker,
      String(r.rounds),
      fmt(r.floor_p50_ms),
      fmt(r.floor_p99_ms),
      fmt(r.p50_ms),
      fmt(r.p99_ms),
      fmt(r.ratio_p50, 2),
      `${fmt(r.ctl_p50_ms, 0)} / ${fmt(r.ctl_p99_ms, 0)}`,
      `${fmt(r.rss_start_mb, 0)} / ${fmt(r.rss_mb, 0)}`,
      fmt(r.rss_peak_mb, 0),
      r.status === 'ok' ? `ok (${r.ctl_verified_rounds}/${r.rounds} verified)` : r.status,
    ]),
  ]);
}

/** Where the time goes: when the last answer left, the POST, CPU per timed window. */
function breakdownTable(runs: RunResult[]): string {
  const withDirect = runs.some((r) => r.direct);
  const cpu = (c: CpuPerRound | null | undefined) =>
    c ? `ctl ${c.controller} · broker ${c.broker ?? 'in ctl'} · rx ${c.workers} · bench ${c.bench}` : '–';
  return markdown([
    [
      'N',
      'broker',
      ...(withDirect ? ['direct p50 / p99 ms'] : []),
      `last answer p50 ms: floor${withDirect ? ' / direct' : ''} / loalang`,
      'POST p50 ms',
      'CPU ms/round floor',
      ...(withDirect ? ['CPU ms/round direct'] : []),
      'CPU ms/round loalang',
    ],
    ...runs.map((r) => [
      String(r.n),
      r.broker,
      ...(withDirect ? [`${fmt(r.direct?.p50_ms)} / ${fmt(r.direct?.p99_ms)}`] : []),
      [
        r.floor_last_answer_p50_ms,
        ...(withDirect ? [r.direct?.last_started_p50_ms] : []),
        r.rx_last_started_p50_ms,
      ]
        .map((v) => fmt(v))
        .join(' / '),
      fmt(r.post_p50_ms),
      cpu(r.cpu_ms_per_round.floor),
      ...(withDirect ? [cpu(r.cpu_ms_per_round.direct)] : []),
      cpu(r.cpu_ms_per_round.loalang),
    ]),
  ]);
}

/** The headline: N=1000 on Mosquitto if it ran, else the largest N on Mosquitto, else the largest N. */
function headline(runs: RunResult[]): RunResult | null {
  const ran = runs.filter((r) => r.status !== 'skipped');
  const by = (list: RunResult[]) =>
    list.reduce<RunResult | null>((best, r) => (!best || r.n > best.n ? r : best), null);
  return (
    ran.find((r) => r.n === 1000 && r.broker === 'mosquitto') ??
    by(ran.filter((r) => r.broker === 'mosquitto')) ??
    by(ran)
  );
}

async function main(): Promise<number> {
  const cli = parseCli();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const mosquitto = findMosquitto();
  if (cli.bulletin && cli.brokers.includes('mosquitto') && !mosquitto) {
    console.log(
      'NOTICE: mosquitto binary not found: the Mosquitto runs are SKIPPED (apt-get install -y mosquitto)',
    );
  }
  log(
    `bench: ${cpus().length} CPUs, node ${process.version}` +
      (cli.bulletin ? `, ${cli.rounds} rounds (+${cli.warmup} warm-up) of each kind, interleaved` : '') +
      (cli.schedule ? ', then the schedule benchmarks' : ''),
  );
  const runs: RunResult[] = [];
  for (const broker of cli.bulletin ? cli.brokers : []) {
    for (const n of cli.ns) {
      if (broker === 'mosquitto' && !mosquitto) {
        runs.push({
          ...emptyResult(n, broker, cli.rounds),
          status: 'skipped',
          error: 'mosquitto binary not found',
        });
        continue;
      }
      const tag = `[N=${n} ${broker}]`;
      if (cli.cpuProf) mkdirSync(cli.cpuProf, { recursive: true });
      log(`${tag} starting`);
      const result = await runConfiguration({
        n,
        broker,
        rounds: cli.rounds,
        warmupRounds: cli.warmup,
        playMs: cli.playMs,
        direct: cli.direct,
        timeoutMs: cli.timeoutMs,
        profileDir: cli.cpuProf,
        log: (line) => log(`${tag} ${line}`),
      });
      if (result.status === 'failed') log(`${tag} FAILED: ${result.error}`);
      runs.push(result);
    }
  }

  const schedule: ScheduleBenchResult | null = cli.schedule
    ? await runScheduleBench({ ...cli.schedule, log })
    : null;

  let announce: AnnounceBenchResult | { status: 'failed'; error: string } | null = null;
  if (cli.announce) {
    log(`[announce N=${cli.announce.n}] starting`);
    announce = await measureAnnounce({
      receivers: cli.announce.n,
      log: (line) => log(`[announce N=${cli.announce?.n}] ${line}`),
    }).catch((err: unknown) => ({ status: 'failed' as const, error: String(err) }));
  }

  let web: WebLoadResult | { status: 'failed'; error: string } | null = null;
  if (cli.web) {
    log('[web] starting');
    web = await measureWebLoad({ ...cli.web, log: (line) => log(`[web] ${line}`) }).catch((err: unknown) => ({
      status: 'failed' as const,
      error: String(err),
    }));
  }

  if (cli.bulletin) {
    console.log(resultsTable(runs));
    console.log('');
    console.log(breakdownTable(runs));
  }
  const head = headline(runs);
  if (head?.n === 1000 && head.ratio_p50 !== null) {
    const met = head.ratio_p50 <= TARGET_RATIO;
    console.log(
      `target at N=1000 on ${head.broker}: loalang p50 ≤ ${TARGET_RATIO} × floor p50 → ${head.ratio_p50} × ` +
        `${met ? 'MET' : `NOT MET (p50 ${fmt(head.p50_ms)} ms vs ${fmt((head.floor_p50_ms ?? 0) * TARGET_RATIO)} ms allowed)`}`,
    );
  }
  for (const r of runs.filter((x) => x.status !== 'ok'))
    console.log(`${r.status}: N=${r.n} ${r.broker}: ${r.error}`);
  if (cli.cpuProf) console.log(`CPU profiles of the controller and the workers in ${cli.cpuProf}`);
  if (schedule) {
    console.log('');
    console.log(scheduleTables(schedule));
  }
  if (announce) {
    console.log('');
    console.log('status' in announce ? `announce: FAILED: ${announce.error}` : announceTable(announce));
  }
  if (web) {
    console.log('');
    console.log('status' in web ? `web: FAILED: ${web.error}` : webLoadTable(web));
  }
  console.log(
    JSON.stringify({
      n: head?.n ?? null,
      broker: head?.broker ?? null,
      floor_p50_ms: head?.floor_p50_ms ?? null,
      p50_ms: head?.p50_ms ?? null,
      p99_ms: head?.p99_ms ?? null,
      ratio_p50: head?.ratio_p50 ?? null,
      rss_mb: head?.rss_mb ?? null,
      runs,
      schedule,
      announce,
      web,
    }),
  );
  const scheduleFailed =
    schedule && (schedule.start.status === 'failed' || schedule.fleet.status === 'failed');
  const announceFailed = announce !== null && 'status' in announce;
  const webFailed = web !== null && 'status' in web;
  return runs.some((r) => r.status === 'failed') || scheduleFailed || announceFailed || webFailed ? 1 : 0;
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping everything it started\n`);
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
