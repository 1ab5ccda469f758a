/**
 * Officer accounts on a real controller over HTTP: brute-force logins slowed and locked, cookie
 * sessions with CSRF protection, API tokens, zone scope, the approval workflow with four eyes,
 * the emergency-to-every-village confirmation, the append-only audit log, and security headers.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toneWav } from '../scripts/wav.js';
import { ADMIN_PASSWORD, startTestController, type TestController } from './helpers/controller.js';
import { addOfficer, controllersPerTest, OFFICER_PASSWORD } from './helpers/officers.js';

const PASSWORD = OFFICER_PASSWORD;
const start = controllersPerTest();

const addUser = (tc: TestController, username: string, roles: string[], zones?: string[]) =>
  addOfficer(tc, username, roles, { zones });

async function village(tc: TestController): Promise<string> {
  for (const [zone, rx] of [
    ['thon-1', 'rx-1'],
    ['thon-2', 'rx-2'],
  ] as const) {
    expect((await tc.api('POST', '/api/zones', { id: zone, name: zone })).status).toBe(201);
    expect((await tc.api('POST', '/api/receivers', { id: rx, zoneId: zone })).status).toBe(201);
  }
  const up = await tc.upload(toneWav(200), 'ban-tin.wav');
  expect(up.status).toBe(201);
  return up.audio.id;
}

const bulletinCount = async (tc: TestController) =>
  (await tc.api<{ total: number }>('GET', '/api/bulletins')).body.total;

/** A tiny cookie jar for fetch. */
function cookieJar() {
  const jar = new Map<string, string>();
  return {
    store(res: Response) {
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair!.indexOf('=');
        jar.set(pair!.slice(0, i), pair!.slice(i + 1));
      }
    },
    header: () => [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
  };
}

describe('login', () => {
  it('slows a password-guessing run from one address (429 after 10 tries a minute)', async () => {
    const tc = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await tc.api(
        'POST',
        '/api/auth/login',
        { username: `nobody${i}`, password: 'wrong-guess' },
        null,
      );
      statuses.push(res.status);
    }
    // The harness's own admin login was the first of the ten this minute.
    expect(statuses).toEqual([...Array(9).fill(401), 429, 429, 429]);
  });

  it('refuses a name from one address after LOGIN_MAX_FAILURES wrong passwords, even the right one, until unlocked', async () => {
    const tc = await start({ LOGIN_MAX_FAILURES: '3' });
    await addUser(tc, 'lan', ['operator']);
    const wrong = [];
    for (let i = 0; i < 3; i++) {
      wrong.push(
        (await tc.api('POST', '/api/auth/login', { username: 'lan', password: 'not-her-password' }, null))
          .status,
      );
    }
    expect(wrong).toEqual([401, 401, 401]);
    const right = await tc.api<{ error: string; message: string }>(
      'POST',
      '/api/auth/login',
      { username: 'lan', password: PASSWORD },
      null,
    );
    // The same answer as a wrong password: a lock does not tell that the name exists.
    expect(right.status).toBe(401);
    expect(right.body.error).toBe('bad_credentials');
    const users = await tc.api<{ items: { id: string; username: string }[] }>('GET', '/api/users');
    const lan = users.body.items.find((u) => u.username === 'lan')!;
    expect((await tc.api('PATCH', `/api/users/${lan.id}`, { unlock: true })).status).toBe(200);
    expect(
      (await tc.api('POST', '/api/auth/login', { username: 'lan', password: PASSWORD }, null)).status,
    ).toBe(200);
    // Every attempt is in the audit log, with the name tried and the source address.
    const audit = await tc.api<{ items: { action: string; subject: string; ip: string }[] }>(
      'GET',
      '/api/audit?action=login',
    );
    expect(audit.body.items.filter((e) => e.subject === 'lan').map((e) => e.action)).toEqual([
      'login (bearer)',
      'login refused: locked_here',
      'login refused: bad_credentials',
      'login refused: bad_credentials',
      'login refused: bad_credentials',
      'login (bearer)',
    ]);
    expect(audit.body.items[0]!.ip).toBe('127.0.0.1');
  });

  it('a stolen session cannot guess the password through the password or PIN forms, and does not lock the login', async () => {
    const tc = await start({ LOGIN_MAX_FAILURES: '3' });
    const token = await addUser(tc, 'hoa', ['operator']);
    const tries = [];
    for (let i = 0; i < 3; i++) {
      tries.push(
        (
          await tc.api(
            'POST',
            '/api/auth/password',
            { currentPassword: `guess-${i}`, newPassword: 'new-password-123' },
            token,
          )
        ).status,
      );
    }
    expect(tries).toEqual([403, 403, 403]);
    // Slowed down: even the right password changes nothing now, through either form.
    const right = { currentPassword: PASSWORD, newPassword: 'new-password-123' };
    const waiting = await tc.api<{ error: string; details: { retryAfterSeconds: number } }>(
      'POST',
      '/api/auth/password',
      right,
      token,
    );
    expect(waiting).toMatchObject({ status: 429, body: { error: 'too_many_tries' } });
    expect(waiting.body.details.retryAfterSeconds).toBe(30);
    expect(
      (await tc.api('POST', '/api/auth/pin', { currentPassword: PASSWORD, pin: '135790' }, token)).status,
    ).toBe(429);
    // A separate counter from the login's: the officer can still log in.
    expect(
      (await tc.api('POST', '/api/auth/login', { username: 'hoa', password: PASSWORD }, null)).status,
    ).toBe(200);
  });

  it('a disabled account cannot log in and its sessions end at once', async () => {
    const tc = await start();
    const token = await addUser(tc, 'minh', ['viewer']);
    const me = await tc.api<{ id: string }>('GET', '/api/auth/me', undefined, token);
    expect(me.status).toBe(200);
    expect((await tc.api('PATCH', `/api/users/${me.body.id}`, { disabled: true })).status).toBe(200);
    expect((await tc.api('GET', '/api/auth/me', undefined, token)).status).toBe(401);
    expect(
      (await tc.api('POST', '/api/auth/login', { username: 'minh', password: PASSWORD }, null)).status,
    ).toBe(403);
  });

  it('keeps the last admin: it cannot lose its role or be removed', async () => {
    const tc = await start();
    const me = await tc.api<{ id: string }>('GET', '/api/auth/me');
    const demote = await tc.api<{ error: string }>('PATCH', `/api/users/${me.body.id}`, {
      roles: ['viewer'],
    });
    expect(demote).toMatchObject({ status: 409, body: { error: 'last_admin' } });
    expect((await tc.api('DELETE', `/api/users/${me.body.id}`)).status).toBe(409);
  });
});

describe('cookie sessions', () => {
  it('are HTTP-only and SameSite, and a state change without the CSRF token is refused and changes nothing', async () => {
    const tc = await start();
    const jar = cookieJar();
    const login = await fetch(`${tc.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD, session: 'cookie' }),
    });
    expect(login.status).toBe(200);
    const session = login.headers.getSetCookie().find((c) => c.startsWith('loalang_session='))!;
    expect(session).toMatch(/HttpOnly/i);
    expect(session).toMatch(/SameSite=Strict/i);
    jar.store(login);
    const { csrfToken, token } = (await login.json()) as { csrfToken: string; token?: string };
    expect(token).toBeUndefined(); // the session lives only in the cookie

    const post = (headers: Record<string, string>) =>
      fetch(`${tc.url}/api/zones`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: jar.header(), ...headers },
        body: JSON.stringify({ id: 'thon-csrf', name: 'Thôn CSRF' }),
      });
    const me = await fetch(`${tc.url}/api/auth/me`, { headers: { cookie: jar.header() } });
    expect(me.status).toBe(200);

    const forged = await post({});
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: string }).error).toBe('csrf');
    const wrongToken = await post({ 'x-csrf-token': `${csrfToken.slice(0, -2)}xx` });
    expect(wrongToken.status).toBe(403);
    const otherSite = await post({ 'x-csrf-token': csrfToken, origin: 'https://evil.example' });
    expect(otherSite.status).toBe(403);
    expect((await tc.api<{ items: unknown[] }>('GET', '/api/zones')).body.items).toEqual([]);

    const good = await post({ 'x-csrf-token': csrfToken });
    expect(good.status).toBe(201);
    expect(
      (await tc.api<{ items: { id: string }[] }>('GET', '/api/zones')).body.items.map((z) => z.id),
    ).toEqual(['thon-csrf']);
  });

  it('a CSRF token made for another session does not work', async () => {
    const tc = await start();
    const loginCookie = async () => {
      const jar = cookieJar();
      const res = await fetch(`${tc.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD, session: 'cookie' }),
      });
      jar.store(res);
      return { jar, csrf: ((await res.json()) as { csrfToken: string }).csrfToken };
    };
    const a = await loginCookie();
    const b = await loginCookie();
    const res = await fetch(`${tc.url}/api/zones`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: a.jar.header(), 'x-csrf-token': b.csrf },
      body: JSON.stringify({ name: 'Thôn X' }),
    });
    expect(res.status).toBe(403);
  });
});

describe('API tokens', () => {
  it('act with their owner’s roles, are stored only as a hash, and stop working when revoked', async () => {
    const tc = await start();
    const viewer = await addUser(tc, 'tich-hop', ['viewer']);
    const made = await tc.api<{ token: string; info: { id: string } }>(
      'POST',
      '/api/auth/tokens',
      { name: 'bảng tin' },
      viewer,
    );
    expect(made.status).toBe(201);
    const apiToken = made.body.token;
    expect(apiToken).toMatch(/^llt_/);
    expect((await tc.api('GET', '/api/zones', undefined, apiToken)).status).toBe(200);
    expect((await tc.api('POST', '/api/zones', { name: 'Thôn Y' }, apiToken)).status).toBe(403);
    const rows = tc.controller.db.prepare('SELECT token_hash FROM api_tokens').all() as {
      token_hash: string;
    }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(apiToken.slice(4));
    // An admin revokes it; it is refused from then on.
    expect((await tc.api('DELETE', `/api/tokens/${made.body.info.id}`)).status).toBe(200);
    expect((await tc.api('GET', '/api/zones', undefined, apiToken)).status).toBe(401);
  });

  it('outlive a password change unless the officer asks to revoke them; an admin sees and revokes them', async () => {
    const tc = await start();
    const session = await addUser(tc, 'tich-hop', ['viewer']);
    const me = await tc.api<{ id: string }>('GET', '/api/auth/me', undefined, session);
    const makeToken = async (token: string, name: string) =>
      (await tc.api<{ token: string }>('POST', '/api/auth/tokens', { name }, token)).body.token;
    const feed = await makeToken(session, 'bảng tin');
    const change = (currentPassword: string, newPassword: string, token: string, revokeTokens?: boolean) =>
      tc.api(
        'POST',
        '/api/auth/password',
        { currentPassword, newPassword, ...(revokeTokens === undefined ? {} : { revokeTokens }) },
        token,
      );
    // A plain change keeps the integration running (sessions end, tokens stay).
    expect((await change(PASSWORD, 'second-password-123', session)).status).toBe(204);
    expect((await tc.api('GET', '/api/auth/me', undefined, session)).status).toBe(401);
    expect((await tc.api('GET', '/api/zones', undefined, feed)).status).toBe(200);
    // The admin sees the officer's tokens.
    const listed = await tc.api<{ items: { name: string; revokedAt: string | null }[] }>(
      'GET',
      `/api/users/${me.body.id}/tokens`,
    );
    expect(listed.body.items.map((t) => [t.name, t.revokedAt])).toEqual([['bảng tin', null]]);
    // With revokeTokens, every token of the officer stops working too.
    const again = await tc.api<{ token: string }>(
      'POST',
      '/api/auth/login',
      { username: 'tich-hop', password: 'second-password-123' },
      null,
    );
    expect((await change('second-password-123', 'third-password-123', again.body.token, true)).status).toBe(
      204,
    );
    expect((await tc.api('GET', '/api/zones', undefined, feed)).status).toBe(401);
    // An admin revokes all of an officer's tokens at once.
    const third = await tc.api<{ token: string }>(
      'POST',
      '/api/auth/login',
      { username: 'tich-hop', password: 'third-password-123' },
      null,
    );
    const other = await makeToken(third.body.token, 'màn hình');
    const revoked = await tc.api<{ revoked: number }>('DELETE', `/api/users/${me.body.id}/tokens`);
    expect(revoked).toMatchObject({ status: 200, body: { revoked: 1 } });
    expect((await tc.api('GET', '/api/zones', undefined, other)).status).toBe(401);
    expect((await tc.api('GET', '/api/users/no-such-user/tokens')).status).toBe(404);
  });
});

describe('officer accounts', () => {
  it('five concurrent creations of one user name: one 201, four 409, one account', async () => {
    const tc = await start();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        tc.api<{ error?: string }>('POST', '/api/users', {
          username: 'trung-ten',
          password: PASSWORD,
          roles: ['viewer'],
        }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    expect(results.filter((r) => r.status === 409).every((r) => r.body.error === 'username_taken')).toBe(
      true,
    );
    const users = await tc.api<{ items: { username: string }[] }>('GET', '/api/users');
    expect(users.body.items.filter((u) => u.username === 'trung-ten')).toHaveLength(1);
  });
});

describe('approval workflow', () => {
  it('an editor’s bulletin waits; its maker cannot approve it; another approver sends it', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const editor = await addOfficer(tc, 'bien-tap', ['editor', 'approver'], {
      displayName: 'Nguyễn Thị Lan',
    });
    const approver = await addUser(tc, 'duyet', ['approver']);
    const filed = await tc.api<{ approval: { id: string; status: string; reason: string } }>(
      'POST',
      '/api/bulletins',
      { audioId, title: 'Lịch tiêm chủng', target: { zones: ['thon-1'] } },
      editor,
    );
    expect(filed.status).toBe(202);
    expect(filed.body.approval).toMatchObject({ status: 'pending', reason: 'editor' });
    expect(await bulletinCount(tc)).toBe(0);
    const id = filed.body.approval.id;
    // The queue names the requester (full name, else username) beside the id: one request for a list.
    const queue = await tc.api<{ items: { id: string; createdByName: string; decidedByName: null }[] }>(
      'GET',
      '/api/approvals?status=pending',
    );
    expect(queue.body.items).toEqual([
      expect.objectContaining({ id, createdByName: 'Nguyễn Thị Lan', decidedByName: null }),
    ]);

    const own = await tc.api<{ error: string }>('POST', `/api/approvals/${id}/approve`, {}, editor);
    expect(own).toMatchObject({ status: 403, body: { error: 'four_eyes' } });
    expect(await bulletinCount(tc)).toBe(0);

    const ok = await tc.api<{
      approval: { status: string; decidedBy: string; createdByName: string; decidedByName: string };
      bulletin: { id: string; createdBy: string };
    }>('POST', `/api/approvals/${id}/approve`, { note: 'đồng ý' }, approver);
    expect(ok.status).toBe(200);
    expect(ok.body.approval).toMatchObject({
      status: 'approved',
      createdByName: 'Nguyễn Thị Lan',
      decidedByName: 'duyet',
    });
    expect(await bulletinCount(tc)).toBe(1);
    const row = tc.controller.db
      .prepare('SELECT created_by, approved_by FROM bulletins WHERE id = ?')
      .get(ok.body.bulletin.id) as { created_by: string; approved_by: string };
    expect(row.approved_by).toBe(ok.body.approval.decidedBy);
    expect(row.created_by).not.toBe(row.approved_by);
    const shown = await tc.api<{ createdBy: string; approvedBy: string }>(
      'GET',
      `/api/bulletins/${ok.body.bulletin.id}`,
    );
    expect(shown.body).toMatchObject({ createdBy: row.created_by, approvedBy: row.approved_by });
    // Decided once: a second approval is refused.
    expect((await tc.api('POST', `/api/approvals/${id}/approve`, {}, approver)).status).toBe(409);
  });

  it('a rejected request never airs; an operator plays now without approval', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const editor = await addUser(tc, 'bien-tap', ['editor']);
    const approver = await addUser(tc, 'duyet', ['approver']);
    const operator = await addUser(tc, 'van-hanh', ['operator']);
    const filed = await tc.api<{ approval: { id: string } }>(
      'POST',
      '/api/bulletins',
      { audioId, target: { zones: ['thon-1'] } },
      editor,
    );
    const rejected = await tc.api<{ status: string }>(
      'POST',
      `/api/approvals/${filed.body.approval.id}/reject`,
      { note: 'sai nội dung' },
      approver,
    );
    expect(rejected).toMatchObject({ status: 200, body: { status: 'rejected' } });
    expect(await bulletinCount(tc)).toBe(0);
    const now = await tc.api('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } }, operator);
    expect(now.status).toBe(201);
    expect(await bulletinCount(tc)).toBe(1);
  });

  it('refuses an editor’s request to an unknown village before filing it', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const editor = await addUser(tc, 'bien-tap', ['editor']);
    const bad = await tc.api<{ error: string }>(
      'POST',
      '/api/bulletins',
      { audioId, target: { zones: ['thon-9'] } },
      editor,
    );
    expect(bad).toMatchObject({ status: 400, body: { error: 'unknown_zone' } });
    const noAudio = await tc.api(
      'POST',
      '/api/bulletins',
      { audioId: 'no-such-audio', target: { zones: ['thon-1'] } },
      editor,
    );
    expect(noAudio.status).toBe(400);
    expect((await tc.api<{ items: unknown[] }>('GET', '/api/approvals')).body.items).toEqual([]);
  });

  it('APPROVAL_PRIORITIES chooses which of an editor’s priorities wait', async () => {
    const tc = await start({ APPROVAL_PRIORITIES: 'emergency' });
    const audioId = await village(tc);
    const editor = await addUser(tc, 'bien-tap', ['editor']);
    expect(
      (await tc.api('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } }, editor)).status,
    ).toBe(201);
    const urgent = await tc.api(
      'POST',
      '/api/bulletins',
      { audioId, priority: 'emergency', target: { zones: ['thon-1'] } },
      editor,
    );
    expect(urgent.status).toBe(202);
  });
});

describe('an emergency to every village', () => {
  it('needs the sender’s PIN (PIN mode): refused without it or with a wrong one', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const operator = await addUser(tc, 'van-hanh', ['operator']);
    const me = await tc.api('POST', '/api/auth/pin', { currentPassword: PASSWORD, pin: '246810' }, operator);
    expect(me.status).toBe(204);
    const body = { audioId, priority: 'emergency', target: { all: true } };
    expect((await tc.api<{ error: string }>('POST', '/api/bulletins', body, operator)).body.error).toBe(
      'confirmation_required',
    );
    // Listing every zone is every village too.
    const everyZone = { ...body, target: { zones: ['thon-1', 'thon-2'] } };
    expect((await tc.api('POST', '/api/bulletins', everyZone, operator)).status).toBe(428);
    const wrong = await tc.api('POST', '/api/bulletins', { ...body, confirm: { pin: '000000' } }, operator);
    expect(wrong.status).toBe(403);
    expect(await bulletinCount(tc)).toBe(0);
    // One village alone needs no PIN.
    const one = await tc.api('POST', '/api/bulletins', { ...body, target: { zones: ['thon-1'] } }, operator);
    expect(one.status).toBe(201);
    const sent = await tc.api('POST', '/api/bulletins', { ...body, confirm: { pin: '246810' } }, operator);
    expect(sent.status).toBe(201);
    // After every village within CONFIRM_WINDOW_S, one more village needs the PIN again.
    const after = await tc.api(
      'POST',
      '/api/bulletins',
      { ...body, target: { zones: ['thon-2'] } },
      operator,
    );
    expect(after.status).toBe(428);
  });

  it('accepts a one-time confirmation token from a PIN entered beforehand, once, for its owner only', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const first = await addUser(tc, 'truc-1', ['operator']);
    const second = await addUser(tc, 'truc-2', ['operator']);
    expect((await tc.api('POST', '/api/auth/confirm', { pin: 'not-my-password' }, first)).status).toBe(403);
    const confirm = await tc.api<{ token: string; expiresAt: string }>(
      'POST',
      '/api/auth/confirm',
      { pin: PASSWORD },
      first,
    );
    expect(confirm.status).toBe(200);
    const body = {
      audioId,
      priority: 'emergency',
      target: { all: true },
      confirm: { token: confirm.body.token },
    };
    const stolen = await tc.api<{ error: string }>('POST', '/api/bulletins', body, second);
    expect(stolen).toMatchObject({ status: 403, body: { error: 'bad_confirmation' } });
    // The stolen attempt spent the token: its owner needs a new one.
    expect((await tc.api('POST', '/api/bulletins', body, first)).status).toBe(403);
    const again = await tc.api<{ token: string }>('POST', '/api/auth/confirm', { pin: PASSWORD }, first);
    const sent = await tc.api(
      'POST',
      '/api/bulletins',
      { ...body, confirm: { token: again.body.token } },
      first,
    );
    expect(sent.status).toBe(201);
    expect(
      (await tc.api('POST', '/api/bulletins', { ...body, confirm: { token: again.body.token } }, first))
        .status,
    ).toBe(403);
    expect(await bulletinCount(tc)).toBe(1);
  });

  it('needs a second officer (second-officer mode), never the sender', async () => {
    const tc = await start({ EMERGENCY_ALL_CONFIRM: 'second-officer' });
    const audioId = await village(tc);
    const first = await addUser(tc, 'truc-1', ['operator']);
    const second = await addUser(tc, 'truc-2', ['operator']);
    const filed = await tc.api<{ approval: { id: string; reason: string } }>(
      'POST',
      '/api/bulletins',
      { audioId, priority: 'emergency', target: { all: true } },
      first,
    );
    expect(filed.status).toBe(202);
    expect(filed.body.approval.reason).toBe('emergency_all');
    const id = filed.body.approval.id;
    expect((await tc.api('POST', `/api/approvals/${id}/approve`, {}, first)).status).toBe(403);
    expect(await bulletinCount(tc)).toBe(0);
    expect((await tc.api('POST', `/api/approvals/${id}/approve`, {}, second)).status).toBe(200);
    expect(await bulletinCount(tc)).toBe(1);
  });
});

describe('zone scope', () => {
  it('an officer limited to one village can address only it', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const scoped = await addUser(tc, 'truong-thon-1', ['operator'], ['thon-1']);
    const other = await tc.api<{ error: string }>(
      'POST',
      '/api/bulletins',
      { audioId, target: { zones: ['thon-2'] } },
      scoped,
    );
    expect(other).toMatchObject({ status: 403, body: { error: 'out_of_scope' } });
    expect((await tc.api('POST', '/api/bulletins', { audioId, target: { all: true } }, scoped)).status).toBe(
      403,
    );
    expect(
      (await tc.api('POST', '/api/bulletins', { audioId, target: { receivers: ['rx-2'] } }, scoped)).status,
    ).toBe(403);
    expect((await tc.api('POST', '/api/stop', { all: true }, scoped)).status).toBe(403);
    expect(await bulletinCount(tc)).toBe(0);
    expect(
      (await tc.api('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } }, scoped)).status,
    ).toBe(201);
    expect((await tc.api('POST', '/api/stop', { zones: ['thon-1'] }, scoped)).status).toBe(200);
  });

  it('an officer limited to one village sees only it, and what was sent to it', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const scoped = await addUser(tc, 'truong-thon-1', ['operator', 'editor'], ['thon-1']);
    const send = async (target: object) =>
      (await tc.api<{ id: string }>('POST', '/api/bulletins', { audioId, target, priority: 'normal' })).body
        .id;
    const toOther = await send({ zones: ['thon-2'] });
    const toMine = await send({ receivers: ['rx-1'] });
    const toAll = await send({ all: true });
    const editor = await addUser(tc, 'bien-tap', ['editor']);
    await tc.api('POST', '/api/bulletins', { audioId, target: { zones: ['thon-2'] } }, editor);
    const mineFiled = await tc.api<{ approval: { id: string } }>(
      'POST',
      '/api/bulletins',
      { audioId, target: { zones: ['thon-1'] } },
      editor,
    );

    const ids = (items: { id: string }[]) => items.map((i) => i.id).sort();
    const get = <T>(path: string) => tc.api<T>('GET', path, undefined, scoped);
    expect(ids((await get<{ items: { id: string }[] }>('/api/zones')).body.items)).toEqual(['thon-1']);
    expect(ids((await get<{ items: { id: string }[] }>('/api/receivers')).body.items)).toEqual(['rx-1']);
    expect((await get('/api/receivers/rx-2')).status).toBe(403);
    expect((await get('/api/zones/thon-2')).status).toBe(403);

    const list = await get<{ items: { id: string }[]; total: number }>('/api/bulletins');
    expect(ids(list.body.items)).toEqual([toMine, toAll].sort());
    expect(list.body.total).toBe(2);
    expect((await get(`/api/bulletins/${toOther}`)).status).toBe(403);
    expect((await get(`/api/bulletins/${toOther}/log`)).status).toBe(403);
    const all = await get<{ deliveries: { receiverId: string }[] }>(`/api/bulletins/${toAll}`);
    expect(all.body.deliveries.map((d) => d.receiverId)).toEqual(['rx-1']);

    const queue = await get<{ items: { id: string }[] }>('/api/approvals');
    expect(ids(queue.body.items)).toEqual([mineFiled.body.approval.id]);
    // An unscoped officer sees everything.
    expect((await tc.api<{ total: number }>('GET', '/api/bulletins')).body.total).toBe(3);
  });
});

describe('zone scope does not leak what lies outside it', () => {
  it('an unknown receiver id answers like another zone’s, and the signing-key listing shows only mine', async () => {
    const tc = await start();
    const audioId = await village(tc);
    const scoped = await addUser(tc, 'truong-thon-1', ['operator'], ['thon-1']);
    const send = (receivers: string[]) =>
      tc.api<{ error: string; message: string }>(
        'POST',
        '/api/bulletins',
        { audioId, target: { receivers } },
        scoped,
      );
    const other = await send(['rx-2']);
    const unknown = await send(['rx-404']);
    expect(other.status).toBe(403);
    expect(unknown.status).toBe(403);
    expect(unknown.body.error).toBe(other.body.error);
    expect(unknown.body.message.replace('rx-404', 'X')).toBe(other.body.message.replace('rx-2', 'X'));
    const getOther = await tc.api<{ message: string }>('GET', '/api/receivers/rx-2', undefined, scoped);
    const getUnknown = await tc.api<{ message: string }>('GET', '/api/receivers/rx-404', undefined, scoped);
    expect([getOther.status, getUnknown.status]).toEqual([403, 403]);
    expect(getUnknown.body.message.replace('rx-404', 'X')).toBe(getOther.body.message.replace('rx-2', 'X'));
    // An unscoped officer still hears that an id is unknown.
    expect((await tc.api('GET', '/api/receivers/rx-404')).status).toBe(404);

    type Overview = { receivers: { total: number; notYetTrusting: string[]; notYetTrustingCount: number } };
    const mine = await tc.api<Overview>('GET', '/api/system/signing-keys', undefined, scoped);
    expect(mine.status).toBe(200);
    expect(mine.body.receivers).toMatchObject({ total: 1, notYetTrusting: ['rx-1'], notYetTrustingCount: 1 });
    const all = await tc.api<Overview>('GET', '/api/system/signing-keys');
    expect(all.body.receivers.notYetTrusting.sort()).toEqual(['rx-1', 'rx-2']);
  });
});

describe('audit log', () => {
  it('records who changed what from where, filters and exports, and cannot be edited', async () => {
    const tc = await start();
    await tc.api('POST', '/api/zones', { id: 'thon-a', name: 'Thôn A' });
    const list = await tc.api<{
      items: { action: string; username: string; ip: string; subject: string | null }[];
    }>('GET', '/api/audit?action=zones');
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({
      action: 'POST /api/zones',
      username: 'admin',
      ip: '127.0.0.1',
    });

    const csv = await fetch(`${tc.url}/api/audit/export?format=csv`, {
      headers: { authorization: `Bearer ${tc.token}` },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const text = await csv.text();
    expect(text.split('\r\n')[0]).toBe('id,at,userId,username,action,subject,ip,detail');
    expect(text).toContain('"POST /api/zones"');

    expect(() => tc.controller.db.prepare("UPDATE audit SET action = 'nothing'").run()).toThrow(
      /append-only/,
    );
    expect(() => tc.controller.db.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
  });
});

describe('hardening', () => {
  it('sends security headers and keeps CORS closed unless an origin is configured', async () => {
    const tc = await start();
    const res = await fetch(`${tc.url}/api/health`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('access-control-allow-origin')).toBeNull();

    const open = await start({ CORS_ORIGINS: 'https://ubnd.example' });
    const ok = await fetch(`${open.url}/api/health`, { headers: { origin: 'https://ubnd.example' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://ubnd.example');
    const no = await fetch(`${open.url}/api/health`, { headers: { origin: 'https://evil.example' } });
    expect(no.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('creates its data directory for its owner only', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'loalang-perm-'));
    try {
      const dataDir = join(parent, 'data');
      // Started here, not with start(): it must be stopped before its parent folder goes.
      const tc = await startTestController({ LOALANG_DATA_DIR: dataDir });
      try {
        expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      } finally {
        await tc.stop();
      }
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('refuses a body over the limit with 413 and changes nothing', async () => {
    const tc = await start();
    const res = await tc.api('POST', '/api/zones', { name: 'x'.repeat(300 * 1024) });
    expect(res.status).toBe(413);
    expect((await tc.api<{ items: unknown[] }>('GET', '/api/zones')).body.items).toEqual([]);
  });
});
