/**
 * `npm run conformance -- --receiver <id> [options]`: certifies a receiver against
 * docs/protocol.md. The kit starts its own controller and broker on loopback, registers the
 * receiver, and either starts it (`--sim`, `--launch`) or prints the provisioning bundle for the
 * operator to load onto the box; then it runs every case and writes the report (terminal, JSON,
 * HTML). Exit status 0 when the receiver is conformant (every MUST passed, none skipped), 1 when
 * not, 2 on a usage error or when the kit itself could not run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isSimBreak, SIM_BREAK_NAMES, type SimBreak } from '../../firmware-sim/breaks.js';
import { deviceIdSchema } from '../contract/mqtt.js';
import { ALL_CASES } from './cases/index.js';
import { type KitOptions, runConformance } from './kit.js';
import { commandLauncher, simLauncher } from './launchers.js';
import { htmlReport, jsonReport, terminalTable } from './report.js';

export const USAGE = `Usage: npm run conformance -- --receiver <id> [options]

Runs the loalang conformance cases against one receiver and writes a report.

  --receiver <id>     the receiver's id (as printed on the box)
  --broker <kind>     embedded (default); mosquitto (the kit starts a Mosquitto of its own with
                      the password and ACL files loalang writes; needs the mosquitto binary); or
                      the mqtt:// URL of a broker already running (a bench broker, a site's
                      Mosquitto): the kit's controller logs in with MQTT_USERNAME/MQTT_PASSWORD
                      from the environment, writes that Mosquitto's files if MOSQUITTO_* name them,
                      and uses the topic root loalang-conformance unless MQTT_TOPIC_ROOT says
  --sim               run the reference simulator (firmware-sim) as the receiver
  --break <name>      with --sim: switch off one behaviour, to see the cases that check it fail
                      (repeatable): ${SIM_BREAK_NAMES.join(', ')}
  --launch <command>  start the receiver with this shell command; {bundle} is replaced by the
                      path of its provisioning bundle (JSON). The kit stops and starts it again
                      for the cases that need a restart
  --only <ids>        comma-separated case ids or prefixes (e.g. verify,play.basic)
  --out <dir>         where to write conformance-<id>.json and .html (default ./conformance-report)
  --online-timeout <s> how long to wait for the receiver to come online (default 30 s with --sim
                      or --launch, 600 s otherwise: time to load the bundle onto the box)
  --list              print the cases and exit
  --help              print this help

Without --sim or --launch the kit prints the bundle and waits for the receiver to connect to the
broker address it names (the kit's link proxy on 127.0.0.1, so run the receiver on this machine or
forward the port).`;

function fail(message: string): never {
  console.error(`conformance: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    fail((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const c of ALL_CASES)
      console.log(`${c.level.padEnd(6)} ${c.section.padEnd(24)} ${c.id}  ${c.title}`);
    return 0;
  }
  const id = deviceIdSchema.safeParse(values.receiver);
  if (!values.receiver) fail('--receiver <id> is required');
  if (!id.success) fail(`--receiver ${JSON.stringify(values.receiver)} is not a valid receiver id (§3)`);
  const brokerArg = values.broker ?? 'embedded';
  let broker: KitOptions['broker'];
  if (brokerArg === 'embedded' || brokerArg === 'mosquitto') broker = brokerArg;
  else if (/^mqtt:\/\/[^/\s]+\/?$/.test(brokerArg)) broker = { url: brokerArg, env: process.env };
  else if (/^(mqtts|wss?):\/\//.test(brokerArg))
    fail(
      `--broker ${brokerArg}: the kit's link proxy reads the receiver's MQTT, so it needs a broker listener without TLS (mqtt://host:port)`,
    );
  else fail(`--broker must be embedded, mosquitto or mqtt://host:port, not ${brokerArg}`);
  const breaks = values.break ?? [];
  for (const b of breaks) if (!isSimBreak(b)) fail(`--break ${b}: not one of ${SIM_BREAK_NAMES.join(', ')}`);
  if (breaks.length && !values.sim) fail('--break needs --sim');
  if (values.sim && values.launch) fail('--sim and --launch exclude each other');
  const timeout = values['online-timeout'] ? Number(values['online-timeout']) : null;
  if (timeout !== null && !(timeout > 0)) fail('--online-timeout must be a number of seconds');

  const opts: KitOptions = {
    receiverId: id.data,
    broker,
    ...(values.only
      ? {
          only: values.only
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : {}),
    ...(timeout ? { onlineTimeoutMs: timeout * 1000 } : {}),
    ...(values.sim ? { launcher: simLauncher({ breaks: breaks as SimBreak[] }) } : {}),
    ...(values.launch ? { launcher: commandLauncher(values.launch, (l) => console.error(l)) } : {}),
    onBundle(bundle, path) {
      if (values.sim || values.launch) return;
      console.error(
        `Provisioning bundle for ${bundle.receiverId} (also in ${path}); load it onto the receiver:\n` +
          `${JSON.stringify(bundle, null, 2)}\n\nWaiting for ${bundle.receiverId} to connect to ${bundle.mqtt.url} …`,
      );
    },
    onResult(r) {
      console.error(
        `${r.outcome.toUpperCase().padEnd(4)} ${r.id}${r.outcome === 'pass' ? '' : `: ${r.reason ?? ''}`}`,
      );
    },
  };
  const report = await runConformance(opts);
  const out = resolve(values.out ?? 'conformance-report');
  mkdirSync(out, { recursive: true });
  const base = join(out, `conformance-${report.receiver.id}`);
  writeFileSync(`${base}.json`, jsonReport(report));
  writeFileSync(`${base}.html`, htmlReport(report));
  console.log(`\n${terminalTable(report)}\n\nReport: ${base}.html and ${base}.json`);
  return report.summary.conformant ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      receiver: { type: 'string' },
      broker: { type: 'string' },
      sim: { type: 'boolean', default: false },
      break: { type: 'string', multiple: true },
      launch: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      'online-timeout': { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`conformance: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
