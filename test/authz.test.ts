/**
 * The authorization matrix: every route of the app × every role (and anonymous callers), against a
 * real controller over HTTP. The table below is the specification, written independently of
 * `src/http/policy.ts`: a route added without a decision here, or a policy that drifts from it,
 * fails this test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../src/auth/roles.js';
import { startTestController, type TestController } from './helpers/controller.js';

/** Routes anyone may call without logging in (each checks its own credential where it needs one). */
const PUBLIC = new Set([
  'GET /',
  // the phone app's files (built into dist/web), and its shell for deep links
  'GET /*',
  'HEAD /*',
  'GET /api/health',
  'POST /api/auth/login',
  // first-run set-up: needs the one-time code from the controller's log, works once
  'GET /api/auth/setup',
  'POST /api/auth/setup',
  'GET /api/system/signing-key',
  'GET /api/audio/:id/content',
  'HEAD /api/audio/:id/content',
  'GET /api/audio/:id/renditions/:codec/content',
  'HEAD /api/audio/:id/renditions/:codec/content',
  'POST /api/mqtt/emqx/authn',
  'POST /api/mqtt/emqx/authz',
]);

/**
 * A: admin, E: editor, P: approver, O: operator, V: viewer, L: alerter (an alert source, not a
 * person: CAP alerts only) — who may call each route.
 */
const MATRIX: Record<string, string> = {
  'GET /api/auth/me': 'AEPOV',
  'POST /api/auth/logout': 'AEPOV',
  'GET /api/auth/csrf': 'AEPOV',
  'POST /api/auth/password': 'AEPOV',
  'POST /api/auth/pin': 'AEPOV',
  'POST /api/auth/confirm': 'AEPOV',
  'GET /api/auth/tokens': 'AEPOV',
  'POST /api/auth/tokens': 'AEPOV',
  'DELETE /api/auth/tokens/:id': 'AEPOV',

  'GET /api/users': 'A',
  'POST /api/users': 'A',
  'GET /api/users/:id': 'A',
  'PATCH /api/users/:id': 'A',
  'DELETE /api/users/:id': 'A',
  'GET /api/users/:id/tokens': 'A',
  'POST /api/users/:id/tokens': 'A',
  'DELETE /api/users/:id/tokens': 'A',
  'GET /api/tokens': 'A',
  'DELETE /api/tokens/:id': 'A',
  'GET /api/audit': 'A',
  'GET /api/audit/export': 'A',

  'GET /api/zones': 'AEPOV',
  'GET /api/zones/:id': 'AEPOV',
  'POST /api/zones': 'A',
  'PATCH /api/zones/:id': 'A',
  'DELETE /api/zones/:id': 'A',
  'GET /api/receivers': 'AEPOV',
  'GET /api/receivers/:id': 'AEPOV',
  'GET /api/receivers/events': 'AEPOV',
  'POST /api/receivers': 'A',
  'PATCH /api/receivers/:id': 'A',
  'DELETE /api/receivers/:id': 'A',
  'POST /api/receivers/:id/adopt': 'A',
  'POST /api/receivers/:id/credentials': 'A',
  'DELETE /api/receivers/:id/credentials': 'A',

  'GET /api/system/signing-keys': 'AEPOV',
  'POST /api/system/signing-keys/rotate': 'A',
  'POST /api/system/signing-keys/retire': 'A',

  'GET /api/audio': 'AEPOV',
  'GET /api/audio/:id': 'AEPOV',
  'GET /api/audio/:id/original': 'AEPOV',
  'POST /api/audio': 'AEO',
  'POST /api/audio/:id/renditions': 'AEO',
  'DELETE /api/audio/:id': 'AE',

  'GET /api/bulletins': 'AEPOV',
  'GET /api/bulletins/:id': 'AEPOV',
  'GET /api/bulletins/:id/progress': 'AEPOV',
  'GET /api/bulletins/:id/log': 'AEPOV',
  'POST /api/bulletins': 'AEO',
  'POST /api/bulletins/:id/cancel': 'AO',
  'POST /api/stop': 'AO',
  'GET /api/announcements': 'AEPOV',
  'GET /api/announcements/:id': 'AEPOV',
  'GET /api/announcements/:id/reach': 'AEPOV',
  'POST /api/announcements': 'AEO',
  'POST /api/announcements/:id/cancel': 'AO',
  'POST /api/tts/preview': 'AEO',
  'POST /api/tts/normalise': 'AEO',
  'GET /api/programs': 'AEPOV',
  'GET /api/programs/:id': 'AEPOV',
  'POST /api/programs/preview': 'AEO',
  'POST /api/programs': 'AEO',
  'PUT /api/programs/:id': 'AEO',
  'DELETE /api/programs/:id': 'AO',
  'GET /api/airings': 'AEPOV',
  'GET /api/airings/:id': 'AEPOV',
  'POST /api/airings/:id/cancel': 'AO',
  'POST /api/airings/:id/shift': 'AO',
  'POST /api/zones/:id/suspend': 'AO',
  'GET /api/asrun': 'AEPOV',
  'GET /api/schedules': 'AEPOV',
  'POST /api/schedules/reload': 'A',
  'GET /api/asrun/summary': 'AEPOV',
  'GET /api/stops': 'AEPOV',
  'GET /api/stops/:id': 'AEPOV',
  'GET /api/stops/:id/progress': 'AEPOV',

  'GET /api/approvals': 'AEPOV',
  'GET /api/approvals/:id': 'AEPOV',
  'POST /api/approvals/:id/approve': 'APO',
  'POST /api/approvals/:id/reject': 'APO',
  'POST /api/approvals/:id/withdraw': 'AEPOV',

  'POST /api/cap': 'AL',
  'GET /api/cap': 'AEPOV',
};

const LETTER: Record<Role, string> = {
  admin: 'A',
  editor: 'E',
  approver: 'P',
  operator: 'O',
  viewer: 'V',
  alerter: 'L',
};
const PASSWORD = 'matrix-password-123';

let tc: TestController;
const tokens = new Map<Role, string>();
let routes: { method: string; url: string; public: boolean }[];

async function login(username: string): Promise<string> {
  const res = await tc.api<{ token: string }>(
    'POST',
    '/api/auth/login',
    { username, password: PASSWORD },
    null,
  );
  expect(res.status).toBe(200);
  return res.body.token;
}

beforeAll(async () => {
  tc = await startTestController({ LOGIN_RATE_PER_MIN: '1000' });
  for (const role of ROLES) {
    const made = await tc.api('POST', '/api/users', {
      username: `u-${role}`,
      password: PASSWORD,
      roles: [role],
    });
    expect(made.status).toBe(201);
    tokens.set(role, await login(`u-${role}`));
  }
  // HEAD follows GET (Fastify adds one for every GET route); the matrix is about GET.
  const explicit = new Set(PUBLIC);
  routes = tc.controller.app.routeList.filter(
    (r) => !r.url.startsWith('/docs') && (r.method !== 'HEAD' || explicit.has(`HEAD ${r.url}`)),
  );
});
afterAll(async () => {
  await tc?.stop();
});

/** Calls a route with placeholder ids and an empty body; authorization runs before validation. */
async function call(
  method: string,
  url: string,
  token: string | null,
): Promise<{ status: number; error?: string }> {
  const path = url.replace(/:(\w+)/g, 'no-such-$1');
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
  if (hasBody) headers['content-type'] = 'application/json';
  const res = await fetch(tc.url + path, { method, headers, ...(hasBody ? { body: '{}' } : {}) });
  // A live stream (Server-Sent Events) never ends: its status is the answer.
  const stream = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const text = method === 'HEAD' || stream ? '' : await res.text();
  let error: string | undefined;
  try {
    error = text ? (JSON.parse(text) as { error?: string }).error : undefined;
  } catch {
    error = undefined;
  }
  await res.body?.cancel().catch(() => {});
  return { status: res.status, ...(error ? { error } : {}) };
}

describe('authorization matrix', () => {
  it('every route is either public by design or has a decision in the matrix', () => {
    const undecided = routes
      .map((r) => `${r.method} ${r.url}`)
      .filter((k) => !PUBLIC.has(k) && !(k in MATRIX));
    expect(undecided).toEqual([]);
    const publicNow = routes.filter((r) => r.public).map((r) => `${r.method} ${r.url}`);
    expect(publicNow.filter((k) => !PUBLIC.has(k))).toEqual([]);
    // Every decision in the matrix is about a route that exists.
    const existing = new Set(routes.map((r) => `${r.method} ${r.url}`));
    expect(Object.keys(MATRIX).filter((k) => !existing.has(k))).toEqual([]);
  });

  it('anonymous callers get 401 on every route that is not public', async () => {
    const wrong: string[] = [];
    for (const r of routes.filter((r) => !r.public)) {
      const res = await call(r.method, r.url, null);
      if (res.status !== 401) wrong.push(`${r.method} ${r.url} → ${res.status}`);
    }
    expect(wrong).toEqual([]);
  });

  it('each role is allowed exactly the routes the matrix gives it', async () => {
    const wrong: string[] = [];
    for (const role of ROLES) {
      for (const r of routes.filter((r) => !r.public)) {
        const key = `${r.method} ${r.url}`;
        const allowed = (MATRIX[key] ?? '').includes(LETTER[role]);
        // Logging out ends the session: use a throwaway one.
        const token = key === 'POST /api/auth/logout' ? await login(`u-${role}`) : tokens.get(role)!;
        const res = await call(r.method, r.url, token);
        const denied = res.status === 403 && res.error === 'forbidden';
        if (res.status === 401) wrong.push(`${role} ${key}: 401 (token rejected)`);
        else if (allowed && denied) wrong.push(`${role} ${key}: denied, should be allowed`);
        else if (!allowed && !denied) wrong.push(`${role} ${key}: ${res.status}, should be denied`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('a user with several roles gets the union of their rights', async () => {
    const made = await tc.api('POST', '/api/users', {
      username: 'head',
      password: PASSWORD,
      roles: ['editor', 'approver'],
    });
    expect(made.status).toBe(201);
    const token = await login('head');
    expect((await call('POST', '/api/approvals/:id/approve', token)).error).not.toBe('forbidden');
    expect((await call('DELETE', '/api/audio/:id', token)).error).not.toBe('forbidden');
    expect(await call('POST', '/api/stop', token)).toMatchObject({ status: 403, error: 'forbidden' });
  });
});
