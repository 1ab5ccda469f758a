/**
 * Officers for tests of accounts, roles and confirmations: controllers started per test and
 * stopped after it, and an officer made through the API and logged in.
 */
import { afterEach, expect } from 'vitest';
import { startTestController, type TestController } from './controller.js';

export const OFFICER_PASSWORD = 'officer-password-123';

/** A starter of controllers that are all stopped after each test of the file that calls it. */
export function controllersPerTest(): (env?: Record<string, string>) => Promise<TestController> {
  const running: TestController[] = [];
  afterEach(async () => {
    for (const tc of running.splice(0)) await tc.stop();
  });
  return async (env = {}) => {
    const tc = await startTestController(env);
    running.push(tc);
    return tc;
  };
}

/**
 * Makes an officer with `roles` (limited to `zones` if given, named `displayName` if given), logs
 * in with OFFICER_PASSWORD and, with `pin`, sets it; returns the session token.
 */
export async function addOfficer(
  tc: TestController,
  username: string,
  roles: string[],
  opts: { zones?: string[] | undefined; pin?: string | undefined; displayName?: string | undefined } = {},
): Promise<string> {
  const made = await tc.api('POST', '/api/users', {
    username,
    password: OFFICER_PASSWORD,
    roles,
    ...(opts.zones ? { zones: opts.zones } : {}),
    ...(opts.displayName ? { displayName: opts.displayName } : {}),
  });
  expect(made.status).toBe(201);
  const login = await tc.api<{ token: string }>(
    'POST',
    '/api/auth/login',
    { username, password: OFFICER_PASSWORD },
    null,
  );
  expect(login.status).toBe(200);
  if (opts.pin !== undefined) {
    const pin = await tc.api(
      'POST',
      '/api/auth/pin',
      { currentPassword: OFFICER_PASSWORD, pin: opts.pin },
      login.body.token,
    );
    expect(pin.status).toBe(204);
  }
  return login.body.token;
}
