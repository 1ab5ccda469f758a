/**
 * Configuration from the environment, optionally over a JSON file (`LOALANG_CONFIG`), validated
 * with zod at start. A bad value stops the start with a message naming the variable.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOPIC_ROOT, MAX_PAYLOAD_BYTES, prioritySchema } from './contract/mqtt.js';
import { loadLexiconFile } from './domain/tts/lexicon.js';

const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();

/** Whether the runtime's time-zone data (Intl) knows `tz`. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A comma-separated list (an environment variable), or a JSON array (the config file), of `item`. */
function commaList<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );
}

/** An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`), as Fastify's trustProxy takes them. */
function isAddressOrCidr(v: string): boolean {
  const [addr, bits, extra] = v.split('/');
  const family = isIP(addr ?? '');
  if (!family || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/** `north=banmai,central=myan,south=lannhi`: a provider's voice names for loalang's three voices. */
const voiceMap = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? Object.fromEntries(
          v
            .split(',')
            .map((p) => p.trim())
            .filter(Boolean)
            .map((p) => [p.split('=')[0]!.trim(), p.slice(p.indexOf('=') + 1).trim()]),
        )
      : v,
  z.partialRecord(z.enum(['north', 'central', 'south']), z.string().min(1).max(100)),
);

/** Text-to-speech (src/domain/tts; README "Text-to-speech"). */
const ttsSettings = {
  TTS_PROVIDER: z
    .enum(['espeak', 'http', 'command', 'off'])
    .default('espeak')
    .describe(
      'speech engine: espeak (built in, offline), http (a cloud service), command (a model you supply), off',
    ),
  TTS_FALLBACK: z
    .enum(['espeak', 'none'])
    .default('none')
    .describe(
      'when the http or command engine is unavailable: espeak speaks instead, none answers 503 tts_unavailable',
    ),
  TTS_LEXICON: z
    .string()
    .min(1)
    .optional()
    .describe(
      'JSON or YAML file of abbreviations, units and phrases added to (or overriding) the built-in table',
    ),
  TTS_MAX_CHARS: z.coerce
    .number()
    .int()
    .min(100)
    .max(100_000)
    .default(5000)
    .describe('longest text read at once'),
  TTS_TIMEOUT_S: z.coerce
    .number()
    .int()
    .min(5)
    .max(600)
    .default(60)
    .describe('longest wait for one synthesis'),
  TTS_VOICES: voiceMap
    .optional()
    .describe("the engine's voice names, e.g. north=banmai,central=myan,south=lannhi"),
  TTS_HTTP_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('http engine: the URL POSTed to'),
  TTS_HTTP_STYLE: z
    .enum(['json', 'fpt'])
    .default('json')
    .describe('http engine: json ({text, voice, speed} → audio or a link) or fpt (FPT.AI TTS v5)'),
  TTS_HTTP_API_KEY: z.string().min(1).optional().describe('http engine: API key (or TTS_HTTP_API_KEY_FILE)'),
  TTS_HTTP_AUTH_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-_]+$/, 'a header name')
    .optional()
    .describe(
      'http engine: header carrying the raw key; default Authorization: Bearer (json), api_key (fpt)',
    ),
  TTS_COMMAND: z.string().min(1).optional().describe('command engine: the program (e.g. /opt/piper/piper)'),
  TTS_COMMAND_ARGS: z
    .preprocess((v) => {
      if (typeof v !== 'string') return v;
      if (!v.trim().startsWith('[')) return v.trim().split(/\s+/);
      try {
        return JSON.parse(v);
      } catch {
        return v; // refused below, with the variable's name
      }
    }, z.array(z.string()))
    .optional()
    .describe(
      "command engine: its arguments with {model} {output} {voice} {speed} {lengthScale}; default Piper's",
    ),
  TTS_MODEL: z
    .string()
    .min(1)
    .optional()
    .describe('command engine: the model file ({voice} in the path for one model per voice)'),
};

/** Every setting, its default and what is allowed. The README's table follows this list. */
export const configSchema = z.object({
  PORT: port.default(8080).describe('HTTP port'),
  HOST: z.string().min(1).default('0.0.0.0').describe('HTTP bind address'),
  LOALANG_DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('directory for the database, audio and keys'),
  MQTT_URL: z
    .url({ protocol: /^mqtts?|wss?$/ })
    .optional()
    .describe('external broker (mqtt://, mqtts://, ws://, wss://); unset → embedded broker'),
  MQTT_USERNAME: z.string().optional().describe('username for the external broker'),
  MQTT_PASSWORD: z.string().optional().describe('password for the external broker'),
  MQTT_CLIENT_ID: z
    .string()
    .min(1)
    .max(128)
    .default('loalang-controller')
    .describe('client id of the controller at the broker (one per controller)'),
  MQTT_PORT: port.default(1883).describe('TCP port of the embedded broker'),
  MQTT_HOST: z.string().min(1).default('0.0.0.0').describe('bind address of the embedded broker'),
  PUBLIC_MQTT_URL: z
    .url({ protocol: /^mqtts?|wss?$/ })
    .optional()
    .describe(
      'broker URL handed to receivers in their provisioning bundle; default MQTT_URL, else the embedded broker',
    ),
  MQTT_DISCOVERY: z
    .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
    .transform((v) => v === true || v === 'true' || v === '1')
    .default(false)
    .describe('embedded broker: let a device without credentials connect with pending rights, to be adopted'),
  MQTT_MAX_PACKET_BYTES: z.coerce
    .number()
    .int()
    // a signed command, config or status (MAX_PAYLOAD_BYTES) and its topic must always fit
    .min(
      MAX_PAYLOAD_BYTES + 1024,
      `at least ${MAX_PAYLOAD_BYTES + 1024} (a ${MAX_PAYLOAD_BYTES}-byte payload and its topic)`,
    )
    .max(268_435_455)
    .default(32 * 1024)
    .describe('embedded broker: largest MQTT packet a client may send; a larger one is cut as it arrives'),
  MQTT_CONNECT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(120_000)
    .default(10_000)
    .describe('embedded broker: a connection that has not sent its whole CONNECT by then is closed'),
  MQTT_MAX_CONNECTIONS_PER_IP: z.coerce
    .number()
    .int()
    .min(0)
    .default(500)
    .describe('embedded broker: open connections from one address (IPv6: one /64); 0: no limit'),
  MQTT_CONNECT_RATE_PER_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(100)
    .describe(
      'embedded broker: new connections one address (IPv6: one /64) may open per second; 0: no limit',
    ),
  MQTT_LIMIT_EXEMPT: z
    .preprocess((v) => (v === 'none' ? [] : v), commaList(z.union([z.ipv4(), z.ipv6()])))
    .default(['127.0.0.1', '::1'])
    .describe(
      'embedded broker: comma-separated addresses the per-address limits skip (a local TLS proxy); none: no exemption',
    ),
  MQTT_TOPIC_ROOT: z
    .string()
    .regex(/^[A-Za-z0-9_.\-/]+[A-Za-z0-9_.-]$/, 'topic levels without "+", "#" or a trailing "/"')
    .default(DEFAULT_TOPIC_ROOT)
    .describe('root of every loalang topic'),
  MOSQUITTO_PASSWORD_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('external Mosquitto: password file loalang writes (controller and receivers); unset: none'),
  MOSQUITTO_ACL_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('external Mosquitto: ACL file loalang writes from its access rules; unset: not written'),
  MOSQUITTO_PID_FILE: z
    .string()
    .min(1)
    .optional()
    .describe("Mosquitto's pid file: sent SIGHUP (reload) after the files change; unset: reload it yourself"),
  MOSQUITTO_FILE_MODE: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'an octal file mode such as 0640')
    .default('0640')
    .transform((v) => Number.parseInt(v, 8))
    .describe('mode of the generated Mosquitto files (Mosquitto must be able to read them)'),
  MQTT_HTTP_AUTH_SECRET: z
    .string()
    .min(16, 'at least 16 characters')
    .optional()
    .describe('shared secret EMQX sends to /api/mqtt/emqx/* (header X-Loalang-Secret); unset: routes off'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TZ: z
    .string()
    .refine(isTimeZone, 'an IANA time zone such as Asia/Ho_Chi_Minh')
    .default('Asia/Ho_Chi_Minh')
    .describe("station's IANA time zone: programs' start times and quiet hours are local to it"),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('base URL receivers use to reach the HTTP server; default http://<host>:<PORT>'),
  ADMIN_PASSWORD: z
    .string()
    .min(10, 'at least 10 characters')
    .optional()
    .describe('first-run admin password; unset → the app asks for a one-time set-up code printed at start'),
  UPLOAD_MAX_BYTES: bytes.default(50 * 1024 * 1024).describe('largest audio upload'),
  AUDIO_MAX_DURATION_S: z.coerce
    .number()
    .int()
    .min(1)
    // the library's ceiling (DURATION_CEILING_MS): no stored duration is ever longer
    .max(86400)
    .default(4 * 3600)
    .describe('longest audio accepted for upload, seconds'),
  RENDITION_MAX_DURATION_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(86400)
    .default(1800)
    .describe(
      'longest audio that gets its small mono 4G copies (Opus 24 kbit/s, MP3 32 kbit/s), seconds; 0 turns them off',
    ),
  HTTP_IDLE_TIMEOUT_S: z.coerce
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(30)
    .describe(
      "close an HTTP connection on which nothing moved for this long (a stalled upload); keep above 15 s, the progress streams' heartbeat",
    ),
  HTTP_REQUEST_TIMEOUT_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(86400)
    .default(3600)
    .describe(
      'longest time to receive one whole request (408 after); an upload of UPLOAD_MAX_BYTES over slow 3G fits',
    ),
  AUDIO_URL_TTL_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86400)
    .default(6 * 3600),
  TOKEN_TTL_S: z.coerce
    .number()
    .int()
    .min(300)
    .max(90 * 86400)
    .default(7 * 86400),
  BULLETIN_TTL_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86400)
    .default(3600)
    .describe('default expiry of a bulletin'),
  REOFFER_DELAY_S: z.coerce
    .number()
    .int()
    .min(1)
    .max(3600)
    .default(15)
    .describe(
      'a download a receiver reported failed is offered again after this, doubled at each try (3 at most), while the bulletin is valid',
    ),
  WEB_DIR: z
    .string()
    .optional()
    .describe('folder of the built phone app (default: dist/web, made by npm run build); "off": no app at /'),
  SCHEDULES_DIR: z
    .string()
    .default('schedules/huong-dao')
    .transform((v) => (v === '' || v === 'off' ? undefined : v))
    .describe(
      'folder of site files (zones, receivers, programs, quiet hours; docs/schedules.md) loaded at start, on POST /api/schedules/reload and on SIGHUP; "off": none',
    ),
  SCHEDULE_HORIZON_H: z.coerce
    .number()
    .int()
    .min(2)
    .max(14 * 24)
    .default(48)
    .describe('how far ahead each receiver holds its airings'),
  PREFETCH_MIN: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(60)
    .describe('how long before an airing receivers fetch its audio'),
  LOGIN_MAX_FAILURES: z.coerce
    .number()
    .int()
    .min(3)
    .max(100)
    .default(5)
    .describe(
      'wrong passwords in a row for one name from one address before that pair pauses (10x from all: the account locks)',
    ),
  LOGIN_RATE_PER_MIN: z.coerce
    .number()
    .int()
    .min(1)
    .max(10000)
    .default(10)
    .describe('login attempts a minute from one address'),
  LOGIN_LOCK_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(86400)
    .default(900)
    .describe('how long a paused name or a locked account stays so; the longest PIN re-check wait'),
  COOKIE_SECURE: z
    .enum(['auto', 'true', 'false'])
    .default('auto')
    .describe('Secure flag of the session cookie; auto: when the request came over HTTPS'),
  CORS_ORIGINS: commaList(z.string().min(1))
    .default([])
    .describe('comma-separated origins allowed to call the API from a browser; empty: none'),
  APPROVAL_PRIORITIES: commaList(prioritySchema)
    .default(['normal', 'priority', 'emergency'])
    .describe("priorities for which an editor's bulletin waits for an approver"),
  TRUSTED_PROXIES: commaList(
    z.string().refine(isAddressOrCidr, 'an IP address or a CIDR range such as 10.0.0.0/8'),
  )
    .default([])
    .describe(
      'comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed; empty: none',
    ),
  CONFIRM_PRIORITIES: commaList(prioritySchema)
    .default(['priority', 'emergency'])
    .describe('priorities whose bulletins to every village need the second step (EMERGENCY_ALL_CONFIRM)'),
  CONFIRM_WINDOW_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(86400)
    .default(900)
    .describe("window in which one officer's bulletins of those priorities add up toward every village"),
  EMERGENCY_ALL_CONFIRM: z
    .enum(['pin', 'second-officer'])
    .default('pin')
    .describe("an emergency to every village needs the sender's PIN, or a second officer"),
  ANNOUNCE_WEBHOOK_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe(
      'POSTed (signed) when an announcement has still not been heard somewhere after ANNOUNCE_WEBHOOK_AFTER_S',
    ),
  ANNOUNCE_WEBHOOK_SECRET: z
    .string()
    .min(16)
    .optional()
    .describe(
      'shared secret of the webhook signature (X-Loalang-Signature); required with ANNOUNCE_WEBHOOK_URL',
    ),
  ANNOUNCE_WEBHOOK_AFTER_S: z.coerce
    .number()
    .int()
    .min(1)
    .max(86400)
    .default(300)
    .describe(
      'how long after an announcement goes out the "not yet heard" webhook fires, if some receivers have not played it',
    ),
  CAP_MAP: z
    .string()
    .min(1)
    .optional()
    .describe(
      'YAML or JSON file mapping CAP alerts to priorities, approval and villages (docs/cap.md); unset: the built-in defaults',
    ),
  CAP_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(4096)
    .max(10 * 1024 * 1024)
    .default(256 * 1024)
    .describe('largest CAP alert accepted by POST /api/cap (then 413)'),
  CAP_FEED_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe("a CAP Atom or RSS feed polled for alerts, each entry's CAP document processed like a POST"),
  CAP_FEED_INTERVAL_S: z.coerce
    .number()
    .int()
    .min(10)
    .max(86400)
    .default(60)
    .describe('how often CAP_FEED_URL is polled'),
  CAP_FEED_USER: z
    .string()
    .min(2)
    .max(64)
    .default('cap-feed')
    .describe("the account (role 'alerter', made if missing) alerts from CAP_FEED_URL are recorded under"),
  ...ttsSettings,
});
export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Settings that may also be given as `<NAME>_FILE`, a path to a file holding the value. */
const SECRET_KEYS = new Set([
  'ADMIN_PASSWORD',
  'MQTT_PASSWORD',
  'MQTT_HTTP_AUTH_SECRET',
  'ANNOUNCE_WEBHOOK_SECRET',
  'TTS_HTTP_API_KEY',
]);

function readSecretFile(name: string, path: string): string {
  try {
    const st = statSync(path);
    // A secret readable by every user of the machine is a secret no longer.
    if ((st.mode & 0o004) !== 0) {
      throw new ConfigError(`${name}: ${path} is readable by everyone; chmod o-r it (e.g. chmod 600)`);
    }
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${name}: cannot read ${path} (${(err as Error).message})`);
  }
}

/**
 * Reads the configuration. Values from the environment win over the optional JSON file named by
 * `LOALANG_CONFIG`. Throws ConfigError with one line per bad setting.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  let fromFile: Record<string, unknown> = {};
  if (env.LOALANG_CONFIG) {
    try {
      fromFile = JSON.parse(readFileSync(resolve(env.LOALANG_CONFIG), 'utf8'));
    } catch (err) {
      throw new ConfigError(
        `LOALANG_CONFIG: cannot read ${env.LOALANG_CONFIG} as JSON (${(err as Error).message})`,
      );
    }
  }
  const raw: Record<string, unknown> = { ...fromFile };
  for (const key of Object.keys(configSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') raw[key] = v;
    // Secrets may come from a file (Docker/systemd credentials): ADMIN_PASSWORD_FILE=/run/secrets/x.
    const file = env[`${key}_FILE`];
    if (SECRET_KEYS.has(key) && file && raw[key] === undefined)
      raw[key] = readSecretFile(`${key}_FILE`, file);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  if (parsed.data.ANNOUNCE_WEBHOOK_URL && !parsed.data.ANNOUNCE_WEBHOOK_SECRET) {
    throw new ConfigError(
      'invalid configuration:\n  ANNOUNCE_WEBHOOK_SECRET: required with ANNOUNCE_WEBHOOK_URL (the webhook is signed with it)',
    );
  }
  const c = parsed.data;
  if (c.TTS_PROVIDER === 'http' && !c.TTS_HTTP_URL) {
    throw new ConfigError('invalid configuration:\n  TTS_HTTP_URL: required with TTS_PROVIDER=http');
  }
  if (c.TTS_PROVIDER === 'command' && !c.TTS_COMMAND) {
    throw new ConfigError('invalid configuration:\n  TTS_COMMAND: required with TTS_PROVIDER=command');
  }
  if (c.TTS_LEXICON) {
    // read again by the controller; checked here so a bad file stops the start like a bad variable
    try {
      loadLexiconFile(c.TTS_LEXICON);
    } catch (err) {
      throw new ConfigError(`invalid configuration:\n  ${(err as Error).message}`);
    }
  }
  return c;
}
