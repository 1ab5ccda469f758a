/**
 * Command line for the receiver simulator. Receivers need credentials (docs/protocol.md,
 * "Provisioning and device credentials"); three ways to give them:
 *
 *   # register 14 receivers into a zone through the API (officer token), then run them
 *   LOALANG_TOKEN=… npm run sim -- --count 14 --prefix hd --register http://127.0.0.1:8080 --zone thon-1
 *   # run the receivers of saved provisioning bundles (one bundle, an array, or {"bundles": […]})
 *   npm run sim -- --provisioning bundles.json
 *   # one receiver with its credentials given by hand
 *   npm run sim -- --username hd-01 --password … --key-url http://127.0.0.1:8080/api/system/signing-key
 *
 * Without any, receivers connect without credentials: only a broker with discovery on
 * (MQTT_DISCOVERY=true) lets them in, as pending. Prints one line per receiver event; SIGINT or
 * SIGTERM stops the fleet gracefully, so every receiver publishes "offline" before the process exits.
 */
import type { KeyObject } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { codecNameSchema, DEFAULT_TOPIC_ROOT } from '../src/contract/mqtt.js';
import { type Fleet, fleetIds, startFleet } from './fleet.js';
import { fetchTrustedKeys, readTrustedKeys } from './keys.js';
import {
  optionsFromBundle,
  type ProvisioningBundle,
  readProvisioning,
  registerReceivers,
} from './provisioning.js';
import type { SimReceiver } from './receiver.js';
import { DEFAULT_SIM_CODECS, type SimReceiverOptions } from './types.js';

const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

/** The --help text. */
export const USAGE = `Usage: npm run sim -- [options]

Simulates loalang loudspeaker receivers on an MQTT broker.

Credentials (see docs/protocol.md, "Provisioning and device credentials"):
  --provisioning <file>  run the receivers of these provisioning bundles (JSON: one bundle, an
                         array, or {"bundles": [...]}); broker, credentials and keys from them
  --register <url>       register --count receivers <prefix>-01… through the controller's API
                         at <url> (officer token in --token or LOALANG_TOKEN; admin role) into
                         --zone, and run them with the bundles it answers (an id already
                         registered gets its credentials re-issued)
  --zone <id>            the zone for --register
  --token <token>        bearer token for --register (default: $LOALANG_TOKEN)
  --username <id>        one receiver with these credentials: its id is the username
  --password <secret>    its password
  Without credentials, receivers connect as unknown devices: only a broker with discovery
  (MQTT_DISCOVERY=true) lets them in, as pending.

Options:
  --count <n>          receivers to simulate (default 1)
  --broker <url>       MQTT broker URL (default: the bundles' URL, else mqtt://127.0.0.1:1883)
  --key-url <url>      controller signing key, e.g. http://127.0.0.1:8080/api/system/signing-key
                       (default with bundles: the keys they carry)
  --key-file <path>    the same JSON ({kid, algorithm, publicKeyPem}) read from a file
  --prefix <text>      receiver id prefix; ids are <prefix>-01, <prefix>-02… (default rx)
  --time-factor <x>    playback time = duration × x (default 1; 0.1 plays ten times faster)
  --heartbeat <s>      status republication period in seconds (default 60)
  --topic-root <root>  topic root (default ${DEFAULT_TOPIC_ROOT})
  --concurrency <n>    receivers connecting at once (default 50)
  --codecs <list>      codecs advertised in the status, comma-separated (default mp3,opus;
                       "none" advertises nothing, like an older firmware: the controller assumes mp3)
  --log-level <level>  simulator diagnostics on stderr: silent, error, warn, info, debug (default warn)
  --help               print this help
`;

/** The parsed command line. */
export interface CliOptions {
  count: number;
  broker: string;
  /** --broker was given (it then wins over the bundles' URL) */
  brokerGiven: boolean;
  provisioning?: string | undefined;
  register?: string | undefined;
  zone?: string | undefined;
  token?: string | undefined;
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
  /** codecs advertised ([] for "none") */
  codecs: string[];
}

/** Parses the command line; returns 'help' for --help. Throws a readable Error on bad input. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      count: { type: 'string' },
      broker: { type: 'string' },
      provisioning: { type: 'string' },
      register: { type: 'string' },
      zone: { type: 'string' },
      token: { type: 'string' },
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
      codecs: { type: 'string', default: DEFAULT_SIM_CODECS.join(',') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const sources = [values.provisioning, values.register, values.username].filter((v) => v !== undefined);
  if (sources.length > 1) throw new Error('give at most one of --provisioning, --register and --username');
  if (values['key-url'] && values['key-file'])
    throw new Error('give exactly one of --key-url and --key-file');
  const bundles = values.provisioning !== undefined || values.register !== undefined;
  if (!bundles && !values['key-url'] && !values['key-file'])
    throw new Error(
      'give one of --key-url and --key-file (or --provisioning / --register, whose bundles carry the key)',
    );
  if (values.provisioning !== undefined && values.count !== undefined)
    throw new Error('--provisioning runs one receiver per bundle: leave out --count');
  if ((values.username === undefined) !== (values.password === undefined))
    throw new Error('give --username and --password together');
  if (values.username !== undefined && values.count !== undefined && values.count !== '1')
    throw new Error('--username and --password are one receiver’s: leave out --count');
  const token = values.token ?? env.LOALANG_TOKEN;
  if (values.register !== undefined && (!values.zone || !token))
    throw new Error('--register needs --zone and an officer token (--token or LOALANG_TOKEN)');
  return {
    count: positive('count', values.count ?? '1', true),
    broker: values.broker ?? DEFAULT_BROKER,
    brokerGiven: values.broker !== undefined,
    provisioning: values.provisioning,
    register: values.register,
    zone: values.zone,
    token: values.register !== undefined ? token : undefined,
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
    codecs: parseCodecs(values.codecs),
  };
}

/** `--codecs mp3,opus` (or `none`) as a list, each name as the contract allows it. */
function parseCodecs(text: string): string[] {
  if (text.trim() === 'none') return [];
  const list = [...new Set(text.split(',').map((c) => c.trim()))].filter((c) => c !== '');
  const bad = list.filter((c) => !codecNameSchema.safeParse(c).success);
  if (bad.length || list.length === 0 || list.length > 16) {
    throw new Error(
      `--codecs must be up to 16 lower-case codec names separated by commas (e.g. mp3,opus) or "none", not "${text}"`,
    );
  }
  return list;
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
  let bundles: ProvisioningBundle[] | null = null;
  try {
    if (opts.provisioning) bundles = await readProvisioning(opts.provisioning);
    else if (opts.register) {
      bundles = await registerReceivers({
        apiUrl: opts.register,
        token: opts.token ?? '',
        ids: fleetIds(opts.count, opts.prefix),
        zoneId: opts.zone ?? '',
      });
      console.log(`${bundles.length} receiver(s) registered in zone ${opts.zone} (credentials issued)`);
    }
  } catch (err) {
    console.error(`cannot provision the receivers: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  let explicitKeys: Map<string, KeyObject> | undefined;
  try {
    if (opts.keyUrl) explicitKeys = await fetchTrustedKeys(opts.keyUrl);
    else if (opts.keyFile) explicitKeys = await readTrustedKeys(opts.keyFile);
  } catch (err) {
    console.error(
      `cannot load the controller signing key: ${err instanceof Error ? err.message : String(err)}`,
    );
    return 1;
  }
  // Per receiver: what its bundle says, with --broker and --key-* winning over it.
  const byId = new Map((bundles ?? []).map((b) => [b.receiverId, optionsFromBundle(b)]));
  const ids = bundles ? bundles.map((b) => b.receiverId) : opts.username ? [opts.username] : null;
  const perReceiver = (id: string): Partial<SimReceiverOptions> => {
    const fromBundle = byId.get(id);
    return {
      id,
      ...fromBundle,
      ...(opts.brokerGiven || !fromBundle ? { brokerUrl: opts.broker } : {}),
      ...(explicitKeys ? { trustedKeys: explicitKeys } : {}),
    };
  };
  const count = ids ? ids.length : opts.count;
  const broker = opts.brokerGiven || !bundles ? opts.broker : (bundles[0]?.mqtt.url ?? opts.broker);
  let fleet: Fleet;
  try {
    fleet = await startFleet({
      count,
      idPrefix: opts.prefix,
      brokerUrl: opts.broker,
      username: opts.username,
      password: opts.password,
      topicRoot: opts.topicRoot,
      trustedKeys: explicitKeys ?? new Map(),
      // The ids of the bundles (or the username) rather than <prefix>-NN.
      configure: (id, index) => perReceiver(ids?.[index] ?? id),
      timeFactor: opts.timeFactor,
      heartbeatMs: opts.heartbeatMs,
      codecs: opts.codecs,
      concurrency: opts.concurrency,
      log,
      onCreate: narrate,
    });
  } catch (err) {
    console.error(`simulator did not start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  console.log(`${count} receiver(s) online on ${broker}; Ctrl-C stops them`);
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
