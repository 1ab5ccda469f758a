/** Configuration: defaults, the optional JSON file, environment precedence, and clear refusals. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'loalang-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('has working defaults for a fresh machine', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      PORT: 8080,
      LOALANG_DATA_DIR: './data',
      MQTT_PORT: 1883,
      TZ: 'Asia/Ho_Chi_Minh',
      MQTT_TOPIC_ROOT: 'loalang/v1',
    });
    expect(c.MQTT_URL).toBeUndefined();
    expect(c.ADMIN_PASSWORD).toBeUndefined();
  });

  it('reads secrets from <NAME>_FILE, and refuses a secret file every user can read', () => {
    const good = join(dir, 'admin-password');
    writeFileSync(good, 'from-a-file-0123\n', { mode: 0o600 });
    expect(loadConfig({ ADMIN_PASSWORD_FILE: good }).ADMIN_PASSWORD).toBe('from-a-file-0123');
    // The plain variable wins over the file.
    expect(
      loadConfig({ ADMIN_PASSWORD_FILE: good, ADMIN_PASSWORD: 'from-the-env-0123' }).ADMIN_PASSWORD,
    ).toBe('from-the-env-0123');
    const open = join(dir, 'mqtt-password');
    writeFileSync(open, 'secret', { mode: 0o644 });
    chmodSync(open, 0o644);
    expect(() => loadConfig({ MQTT_PASSWORD_FILE: open })).toThrow(/readable by everyone/);
    expect(() => loadConfig({ MQTT_PASSWORD_FILE: join(dir, 'missing') })).toThrow(
      /MQTT_PASSWORD_FILE: cannot read/,
    );
    // Only secrets may come from files.
    expect(loadConfig({ PORT_FILE: good }).PORT).toBe(8080);
  });

  it('reads comma-separated lists, and names a bad item', () => {
    expect(loadConfig({}).APPROVAL_PRIORITIES).toEqual(['normal', 'priority', 'emergency']);
    expect(loadConfig({}).CORS_ORIGINS).toEqual([]);
    const c = loadConfig({
      APPROVAL_PRIORITIES: 'emergency',
      CORS_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(c.APPROVAL_PRIORITIES).toEqual(['emergency']);
    expect(c.CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(() => loadConfig({ APPROVAL_PRIORITIES: 'normal,urgent' })).toThrow(
      /APPROVAL_PRIORITIES\.1: .*"emergency"/,
    );
  });

  it('reads an optional JSON file, and the environment wins over it', () => {
    const file = join(dir, 'loalang.json');
    writeFileSync(
      file,
      JSON.stringify({ PORT: 9000, MQTT_URL: 'mqtts://broker.example:8883', LOG_LEVEL: 'debug' }),
    );
    const c = loadConfig({ LOALANG_CONFIG: file, PORT: '9100' });
    expect(c.PORT).toBe(9100);
    expect(c.MQTT_URL).toBe('mqtts://broker.example:8883');
    expect(c.LOG_LEVEL).toBe('debug');
  });

  it('refuses bad values with one line per variable saying what is allowed', () => {
    let err: unknown;
    try {
      loadConfig({
        PORT: '70000',
        MQTT_URL: 'http://x',
        TZ: 'Hanoi',
        ADMIN_PASSWORD: 'short',
        LOG_LEVEL: 'loud',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    for (const name of ['PORT', 'MQTT_URL', 'TZ', 'ADMIN_PASSWORD', 'LOG_LEVEL'])
      expect(message).toContain(`${name}:`);
    expect(message).toContain('IANA time zone');
    expect(message).toContain('at least 10 characters');
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadConfig({ LOALANG_CONFIG: join(dir, 'missing.json') })).toThrow(
      /LOALANG_CONFIG: cannot read/,
    );
  });
});
