/**
 * Configuration from the environment, optionally over a JSON file (`LOALANG_CONFIG`), validated
 * with zod at start. A bad value stops the start with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_TOPIC_ROOT } from './contract/mqtt.js';

const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

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
  MQTT_TOPIC_ROOT: z
    .string()
    .regex(/^[A-Za-z0-9_.\-/]+[A-Za-z0-9_.-]$/, 'topic levels without "+", "#" or a trailing "/"')
    .default(DEFAULT_TOPIC_ROOT)
    .describe('root of every loalang topic'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TZ: z
    .string()
    .refine(isTimeZone, 'an IANA time zone such as Asia/Ho_Chi_Minh')
    .default('Asia/Ho_Chi_Minh')
    .describe("station's time zone"),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('base URL receivers use to reach the HTTP server; default http://<host>:<PORT>'),
  ADMIN_PASSWORD: z
    .string()
    .min(10, 'at least 10 characters')
    .optional()
    .describe('first-run admin password; unset → generated once and printed'),
  UPLOAD_MAX_BYTES: bytes.default(50 * 1024 * 1024).describe('largest audio upload'),
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
});
export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
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
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
