/**
 * What an outsider can turn against the commune through the login: a forged X-Forwarded-For
 * (TRUSTED_PROXIES), a lockout of an officer's account, and answers that tell which user names
 * exist. Real controller over HTTP on 127.0.0.1, real SQLite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startTestController, type TestController } from './helpers/controller.js';

const running: TestController[] = [];
afterEach(async () => {
  for (const tc of running.splice(0)) await tc.stop();
});

async function start(env: Record<string, string> = {}): Promise<TestController> {
  const tc = await startTestController(env);
  running.push(tc);
  return tc;
}

/** A login with an X-Forwarded-For header; status and body. */
async function loginVia(tc: TestController, forwardedFor: string, username: string, password: string) {
  const res = await fetch(`${tc.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ username, password }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: string; message?: string; token?: string },
  };
}

const auditIps = async (tc: TestController, subject: string) =>
  (
    await tc.api<{ items: { subject: string; ip: string }[] }>('GET', '/api/audit?action=login&limit=100')
  ).body.items
    .filter((e) => e.subject === subject)
    .map((e) => e.ip);

describe('X-Forwarded-For (TRUSTED_PROXIES)', () => {
  it('is ignored by default: a header per attempt neither escapes the rate limit nor reaches the audit log', async () => {
    const tc = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await loginVia(tc, `203.0.113.${i + 1}`, 'guess', `wrong-${i}`)).status);
    }
    // The harness's admin login was the first of the ten this minute from 127.0.0.1.
    expect(statuses).toEqual([...Array(9).fill(401), 429, 429, 429]);
    expect(new Set(await auditIps(tc, 'guess'))).toEqual(new Set(['127.0.0.1']));
  });

  it('is ignored from an address outside the list', async () => {
    const tc = await start({ TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7' });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await loginVia(tc, `203.0.113.${i + 1}`, 'guess', `wrong-${i}`)).status);
    }
    expect(statuses.at(-1)).toBe(429);
    expect(new Set(await auditIps(tc, 'guess'))).toEqual(new Set(['127.0.0.1']));
  });

  it('is believed from a listed proxy: each client has its own limit, and the audit log names it', async () => {
    const tc = await start({ TRUSTED_PROXIES: '127.0.0.0/8' });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      statuses.push((await loginVia(tc, `203.0.113.${i + 1}`, 'guess', `wrong-${i}`)).status);
    }
    expect(statuses).toEqual(Array(12).fill(401));
    expect(await auditIps(tc, 'guess')).toContain('203.0.113.12');
  });

  it('refuses a setting that is not an address or a range', async () => {
    await expect(start({ TRUSTED_PROXIES: '127.0.0.1, not-an-ip' })).rejects.toThrow(
      /TRUSTED_PROXIES\.1: an IP address or a CIDR range/,
    );
    await expect(start({ TRUSTED_PROXIES: '10.0.0.0/33' })).rejects.toThrow(/TRUSTED_PROXIES/);
  });
});
