/**
 * Command line for the receiver simulator:
 *
 *   npm run sim -- --count 14 --broker mqtt://127.0.0.1:1883 \
 *     --key-url http://127.0.0.1:8080/api/system/signing-key --prefix hd
 *
 * Prints one line per receiver event; SIGINT or SIGTERM stops the fleet gracefully, so every
 * receiver publishes "offline" before the process exits.
 */
import type { KeyObject } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_TOPIC_ROOT } from '../src/contract/mqtt.js';
import { type Fleet, startFleet } from './fleet.js';
import { fetchTrustedKeys, readTrustedKeys } from './keys.js';
import type { SimReceiver } from './receiver.js';

/** The --help text. */
export const USAGE = `Usage: npm run sim -- [options]

Simulates loalang loudspeaker receivers on an MQTT broker.

Options:
  --count <n>          receivers to simulate (default 1)
  --broker <url>       MQTT broker URL (default mqtt://127.0.0.1:1883)
  --key-url <url>      controller signing key, e.g. http://127.0.0.1:8080/api/system/signing-key
  --key-file <path>    the same JSON ({kid, algorithm, publicKeyPem}) read from a file
  --prefix <text>      receiver id prefix; ids are <prefix>-01, <prefix>-02… (default rx)
  --time-factor <x>    playback time = duration × x (default 1; 0.1 plays ten times faster)
  --heartbeat <s>      status republication period in seconds (default 60)
  --username <name>    MQTT username (receivers normally connect without one)
  --password <secret>  MQTT password
  --topic-root <root>  topic root (default ${DEFAULT_TOPIC_ROOT})
  --concurrency <n>    receivers connecting at once (default 50)
  --log-level <level>  simulator diagnostics on stderr: silent, error, warn, info, debug (default warn)
  --help               print this help
`;

/** The parsed command line. */
export interface CliOptions {
  count: number;
  broker: string;
  keyUrl?: string | undefined;
  keyFile?: string | undefined;
  prefix: string;
  timeFactor: number;
  heartbeatMs: number;
  username?: string | undefined;
  password?: string | undefined;
  topicRoot: string;
  concurrency: number;
  logLevel: string;
}

/** Parses the command line; returns 'help' for --help. Throws a readable Error on bad input. */
export function parseCliArgs(argv: string[]): CliOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      count: { type: 'string', default: '1' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      'key-url': { type: 'string' },
      'key-file': { type: 'string' },
      prefix: { type: 'string', default: 'rx' },
      'time-factor': { type: 'string', default: '1' },
      heartbeat: { type: 'string', default: '60' },
      username: { type: 'string' },
      password: { type: 'string' },
      'topic-root': { type: 'string', default: DEFAULT_TOPIC_ROOT },
      concurrency: { type: 'string', default: '50' },
      'log-level': { type: 'string', default: 'warn' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  if (!values['key-url'] === !values['key-file'])
    throw new Error('give exactly one of --key-url and --key-file');
  return {
    count: positive('count', values.count, true),
    broker: values.broker,
    keyUrl: values['key-url'],
    keyFile: values['key-file'],
    prefix: values.prefix,
    timeFactor: positive('time-factor', values['time-factor'], false),
    heartbeatMs: Math.round(positive('heartbeat', values.heartbeat, false) * 1000),
    username: values.username,
    password: values.password,
    topicRoot: values['topic-root'],
    concurrency: positive('concurrency', values.concurrency, true),
    logLevel: values['log-level'],
  };
}

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not "${text}"`);
  }
  return n;
}

/** One compact line per receiver event and connection change, on stdout. */
function narrate(rx: SimReceiver): void {
  const line = (text: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${rx.id} ${text}`);
  rx.on('online', (session) => line(`online session=${session}`));
  rx.on('offline', () => line('offline'));
  rx.on('config', (c) => line(`config seq=${c.seq} adopted=${c.adopted} zones=${c.zones.join(',') || '-'}`));
  rx.on('event', (e) => {
    const extra = [
      e.play === undefined ? '' : `play=${e.play}`,
      e.by === undefined ? '' : `by=${e.by.slice(0, 8)}`,
      e.reason === undefined ? '' : `reason=${e.reason}`,
      e.detail === undefined ? '' : `detail="${e.detail}"`,
    ].filter(Boolean);
    line(`${e.state.padEnd(10)} cmd=${e.commandId.slice(0, 8)} ${extra.join(' ')}`.trimEnd());
  });
}

/** Runs the simulator until SIGINT or SIGTERM; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let opts: CliOptions | 'help';
  try {
    opts = parseCliArgs(argv);
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (opts === 'help') {
    console.log(USAGE);
    return 0;
  }
  const log = pino({ level: opts.logLevel }, pino.destination(2));
  let trustedKeys: Map<string, KeyObject>;
  try {
    trustedKeys = opts.keyUrl
      ? await fetchTrustedKeys(opts.keyUrl)
      : await readTrustedKeys(opts.keyFile ?? '');
  } catch (err) {
    console.error(
      `cannot load the controller signing key: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
  let fleet: Fleet;
  try {
    fleet = await startFleet({
      count: opts.count,
      idPrefix: opts.prefix,
      brokerUrl: opts.broker,
      username: opts.username,
      password: opts.password,
      topicRoot: opts.topicRoot,
      trustedKeys,
      timeFactor: opts.timeFactor,
      heartbeatMs: opts.heartbeatMs,
      concurrency: opts.concurrency,
      log,
      onCreate: narrate,
    });
  } catch (err) {
    console.error(`simulator did not start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  console.log(`${opts.count} receiver(s) online on ${opts.broker}; Ctrl-C stops them`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // A second signal while stopping means "now".
  const force = () => process.exit(130);
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  console.log(`${signal}: stopping ${fleet.receivers.length} receiver(s)`);
  await fleet.stop();
  console.log('all receivers offline');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
