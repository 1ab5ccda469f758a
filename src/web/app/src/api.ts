/**
 * The app's side of the HTTP API: a cookie session (HTTP-only cookie + CSRF token, never a bearer
 * token in storage), JSON in and out, and every failure turned into an ApiError whose message is
 * plain Vietnamese (or English) saying what to do — never a raw server message or a stack.
 */
import { signal } from '@preact/signals';
import type { Officer, Role } from '../../../contract/officer';
import { hasKey, t } from './i18n';

/** The officer logged in on this phone (GET /api/auth/me). */
export type Me = Officer;

// Who was logged in on this phone last time (no secret: the session is the HTTP-only cookie), so
// the app draws its first screen at once and checks the session beside it.
const KNOWN = 'loalang.me';
const remember = (m: Me | null) => {
  if (m) localStorage.setItem(KNOWN, JSON.stringify(m));
  else localStorage.removeItem(KNOWN);
};
/** The officer this phone knew last, until /api/auth/me says otherwise. */
export function knownMe(): Me | null {
  try {
    const m = JSON.parse(localStorage.getItem(KNOWN) ?? 'null') as Me | null;
    return m && typeof m.id === 'string' && Array.isArray(m.roles) ? m : null;
  } catch {
    return null;
  }
}

export const me = signal<Me | null>(knownMe());
let csrfToken = sessionStorage.getItem('csrf') ?? '';
/** The CSRF token to send with a state-changing request made outside `api` (an XHR upload). */
export const currentCsrf = (): string => csrfToken;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

/** The words to show for a failed request (an ApiError already carries them). */
export const errorText = (err: unknown): string => (err instanceof ApiError ? err.message : t('err.network'));

/** The officer-facing words for an API error code. */
export function explain(status: number, code: string, detail = ''): string {
  if (status === 0) return t('err.network');
  const key = `err.${code}`;
  if (hasKey(key)) return t(key, { detail, code });
  if (status === 401) return t('err.unauthorized');
  if (status === 403) return t('err.forbidden');
  if (status === 429) return t('err.rate_limited');
  return t('err.unknown', { code: code || String(status) });
}

export async function api<T>(
  method: string,
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
  if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body === undefined ? {} : { body: body instanceof FormData ? body : JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'network', t('err.network'));
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const b = (parsed ?? {}) as { error?: string; details?: unknown };
    const code = b.error ?? '';
    if (res.status === 401 && path !== '/api/auth/login') {
      me.value = null;
      remember(null);
    }
    // `details` is a list of field problems for validation errors, an object for some others
    // (409 audio_in_use: { activeBulletins }).
    const detail = Array.isArray(b.details)
      ? (b.details as { path?: string; message?: string }[])
          .map((d) => d.path?.replace(/^\//, '') || d.message)
          .join(', ')
      : '';
    throw new ApiError(res.status, code, explain(res.status, code, detail), parsed);
  }
  return parsed as T;
}

export async function login(username: string, password: string): Promise<void> {
  const r = await api<{ csrfToken?: string }>('POST', '/api/auth/login', {
    username,
    password,
    session: 'cookie',
  });
  csrfToken = r.csrfToken ?? '';
  sessionStorage.setItem('csrf', csrfToken);
  await loadMe();
}

export async function loadMe(): Promise<Me | null> {
  try {
    // Both at once: on a 150 ms link each round trip saved is felt before the first screen.
    const csrf = csrfToken ? null : api<{ csrfToken: string }>('GET', '/api/auth/csrf').catch(() => null);
    const m = await api<Me>('GET', '/api/auth/me');
    const got = await csrf;
    if (got) {
      csrfToken = got.csrfToken;
      sessionStorage.setItem('csrf', csrfToken);
    }
    me.value = m;
    remember(m);
    return m;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      me.value = null;
      return null;
    }
    throw err;
  }
}

export async function logout(): Promise<void> {
  await api('POST', '/api/auth/logout', {}).catch(() => undefined);
  csrfToken = '';
  sessionStorage.removeItem('csrf');
  me.value = null;
  remember(null);
}

export const hasRole = (...roles: Role[]): boolean =>
  Boolean(me.value?.roles.some((r) => r === 'admin' || roles.includes(r)));
