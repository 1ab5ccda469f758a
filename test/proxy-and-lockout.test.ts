/**
 * What an outsider can turn against the commune through the login: a forged X-Forwarded-For
 * (TRUSTED_PROXIES), a lockout of an officer's account, and answers that tell which user names
 * exist. Real controller over HTTP on 127.0.0.1, real SQLite.
 */
import { describe, expect, it } from 'vitest';
import { toneWav } from '../scripts/wav.js';
import type { TestController } from './helpers/controller.js';
import { controllersPerTest, OFFICER_PASSWORD } from './helpers/officers.js';

const start = controllersPerTest();

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

const PASSWORD = OFFICER_PASSWORD;
const PIN = '246810';
const OFFICE = '198.51.100.7';
const ATTACKER = '203.0.113.66';

/**
 * A controller behind a proxy on 127.0.0.1 (so tests can speak for other addresses), one village
 * with a receiver, and an operator with a PIN logged in from the commune office.
 */
async function communeBehindProxy(env: Record<string, string> = {}) {
  const tc = await start({ TRUSTED_PROXIES: '127.0.0.1', ...env });
  expect((await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' })).status).toBe(201);
  expect((await tc.api('POST', '/api/receivers', { id: 'rx-1', zoneId: 'thon-1' })).status).toBe(201);
  const up = await tc.upload(toneWav(200), 'canh-bao.wav');
  expect(up.status).toBe(201);
  const made = await tc.api<{ id: string }>('POST', '/api/users', {
    username: 'operator',
    password: PASSWORD,
    roles: ['operator'],
  });
  expect(made.status).toBe(201);
  const login = await loginVia(tc, OFFICE, 'operator', PASSWORD);
  expect(login.status).toBe(200);
  const session = login.body.token!;
  expect(
    (await tc.api('POST', '/api/auth/pin', { currentPassword: PASSWORD, pin: PIN }, session)).status,
  ).toBe(204);
  return { tc, audioId: up.audio.id, session, userId: made.body.id };
}

describe('wrong passwords from outside', () => {
  it('do not lock the officer out of the emergency path, nor out of the login from their office', async () => {
    const { tc, audioId, session } = await communeBehindProxy();
    const tries = [];
    for (let i = 0; i < 6; i++) tries.push((await loginVia(tc, ATTACKER, 'operator', `guess-${i}`)).status);
    expect(tries).toEqual(Array(6).fill(401));
    // The guesser is paused even with the right password ...
    expect((await loginVia(tc, ATTACKER, 'operator', PASSWORD)).status).toBe(401);
    // ... but the officer's session confirms with the PIN and sounds the alarm ...
    expect((await tc.api('POST', '/api/auth/confirm', { pin: PIN }, session)).status).toBe(200);
    const alarm = await tc.api(
      'POST',
      '/api/bulletins',
      { audioId, priority: 'emergency', target: { all: true }, confirm: { pin: PIN } },
      session,
    );
    expect(alarm.status).toBe(201);
    // ... and the officer logs in again from the office.
    expect((await loginVia(tc, OFFICE, 'operator', PASSWORD)).status).toBe(200);
  });

  it('get the same answer for an unknown name, a known one, admin, and a paused one', async () => {
    // 18 tries from one address: above the per-address rate limit, which would answer 429 to all alike.
    const { tc } = await communeBehindProxy({ LOGIN_MAX_FAILURES: '3', LOGIN_RATE_PER_MIN: '100' });
    const answers = async (username: string) => {
      const seen = [];
      for (let i = 0; i < 5; i++) seen.push(await loginVia(tc, ATTACKER, username, `guess-${i}`));
      // After the pause started, even the right password (where there is one) answers the same.
      seen.push(await loginVia(tc, ATTACKER, username, PASSWORD));
      return seen.map((r) => JSON.stringify([r.status, r.body]));
    };
    const unknown = await answers('khong-ai');
    expect(new Set(unknown).size).toBe(1);
    expect(JSON.parse(unknown[0]!)).toEqual([
      401,
      {
        error: 'bad_credentials',
        message:
          'Wrong user name or password, or too many wrong tries: wait 15 minutes and try again, or ask an admin to unlock the account.',
      },
    ]);
    expect(await answers('operator')).toEqual(unknown);
    expect(await answers('admin')).toEqual(unknown);
    // The audit log, for admins, still tells what happened.
    const audit = await tc.api<{ items: { action: string; subject: string }[] }>(
      'GET',
      '/api/audit?action=login&limit=100',
    );
    const operatorActions = audit.body.items.filter((e) => e.subject === 'operator').map((e) => e.action);
    expect(operatorActions.filter((a) => a === 'login refused: locked_here')).toHaveLength(3);
  });

  it('from many addresses lock the account for addresses where the officer has no session', async () => {
    const { tc, userId } = await communeBehindProxy({ LOGIN_MAX_FAILURES: '3' });
    // 10 × LOGIN_MAX_FAILURES wrong passwords from as many addresses, each below its own limit.
    for (let i = 0; i < 30; i++) {
      expect((await loginVia(tc, `203.0.113.${i + 1}`, 'operator', `guess-${i}`)).status).toBe(401);
    }
    const locked = await tc.api<{ lockedUntil: string | null }>('GET', `/api/users/${userId}`);
    expect(locked.body.lockedUntil).not.toBeNull();
    expect((await loginVia(tc, '203.0.113.200', 'operator', PASSWORD)).status).toBe(401);
    // The office, where the officer has a live session, is not locked out.
    expect((await loginVia(tc, OFFICE, 'operator', PASSWORD)).status).toBe(200);
    const after = await tc.api<{ lockedUntil: string | null }>('GET', `/api/users/${userId}`);
    expect(after.body.lockedUntil).toBeNull();
  });
});

describe('a logged-in officer re-entering the PIN', () => {
  it('is slowed down after LOGIN_MAX_FAILURES wrong PINs on their own counter, which an admin can clear', async () => {
    const { tc, audioId, session, userId } = await communeBehindProxy({ LOGIN_MAX_FAILURES: '3' });
    const wrong = [];
    for (let i = 0; i < 3; i++) {
      wrong.push((await tc.api('POST', '/api/auth/confirm', { pin: `00000${i}` }, session)).status);
    }
    expect(wrong).toEqual([403, 403, 403]);
    const waiting = await tc.api<{ error: string; details: { retryAfterSeconds: number } }>(
      'POST',
      '/api/auth/confirm',
      { pin: PIN },
      session,
    );
    expect(waiting).toMatchObject({ status: 429, body: { error: 'too_many_tries' } });
    expect(waiting.body.details.retryAfterSeconds).toBe(30);
    const alarm = await tc.api(
      'POST',
      '/api/bulletins',
      { audioId, priority: 'emergency', target: { all: true }, confirm: { pin: PIN } },
      session,
    );
    expect(alarm.status).toBe(429);
    expect((await tc.api<{ total: number }>('GET', '/api/bulletins')).body.total).toBe(0);
    expect((await tc.api('PATCH', `/api/users/${userId}`, { unlock: true })).status).toBe(200);
    expect((await tc.api('POST', '/api/auth/confirm', { pin: PIN }, session)).status).toBe(200);
  });
});
