/**
 * Who may call what: one table, route by route, so the whole authorization policy reads (and is
 * reviewed) in one place. The auth hook enforces it; `test/authz.test.ts` checks every route of the
 * app against it for every role and for anonymous callers.
 *
 * - routes marked `config: { public: true }` need no login (health, login, first-run set-up with its
 *   one-time code, the public signing key,
 *   signed audio URLs, broker callbacks with their own secret) and are not listed here;
 * - `any`: every logged-in officer (a person: not an alert source, whose role 'alerter' passes only
 *   the routes that name it);
 * - a list of roles: officers holding one of them; admin may call every route;
 * - a route missing from this table is admin-only (closed by default), and the test fails;
 * - HEAD follows GET.
 * Finer rules (zone scope, four-eyes approval, a creator withdrawing their own request) are checked
 * by the domain, after this table let the call through.
 */
import { isOfficerRole, type Role } from '../auth/roles.js';

export type Rule = 'any' | Role[];

const READ: Rule = 'any';
const ADMIN: Rule = ['admin'];

export const POLICY: Readonly<Record<string, Rule>> = {
  // the officer's own account
  'GET /api/auth/me': 'any',
  'POST /api/auth/logout': 'any',
  'GET /api/auth/csrf': 'any',
  'POST /api/auth/password': 'any',
  'POST /api/auth/pin': 'any',
  'POST /api/auth/confirm': 'any',
  'GET /api/auth/tokens': 'any',
  'POST /api/auth/tokens': 'any',
  'DELETE /api/auth/tokens/:id': 'any',

  // accounts, API tokens of everyone, audit: admins
  'GET /api/users': ADMIN,
  'POST /api/users': ADMIN,
  'GET /api/users/:id': ADMIN,
  'PATCH /api/users/:id': ADMIN,
  'DELETE /api/users/:id': ADMIN,
  'GET /api/users/:id/tokens': ADMIN,
  'POST /api/users/:id/tokens': ADMIN,
  'DELETE /api/users/:id/tokens': ADMIN,
  'GET /api/tokens': ADMIN,
  'DELETE /api/tokens/:id': ADMIN,
  'GET /api/audit': ADMIN,
  'GET /api/audit/export': ADMIN,

  // the fleet: everyone reads, admins change
  'GET /api/zones': READ,
  'GET /api/zones/:id': READ,
  'POST /api/zones': ADMIN,
  'PATCH /api/zones/:id': ADMIN,
  'DELETE /api/zones/:id': ADMIN,
  'GET /api/receivers': READ,
  'GET /api/receivers/:id': READ,
  'GET /api/receivers/events': READ,
  'POST /api/receivers': ADMIN,
  'PATCH /api/receivers/:id': ADMIN,
  'DELETE /api/receivers/:id': ADMIN,
  'POST /api/receivers/:id/adopt': ADMIN,
  'POST /api/receivers/:id/credentials': ADMIN,
  'DELETE /api/receivers/:id/credentials': ADMIN,

  // signing keys
  'GET /api/system/signing-keys': READ,
  'POST /api/system/signing-keys/rotate': ADMIN,
  'POST /api/system/signing-keys/retire': ADMIN,

  // the audio library: editors and operators record and upload; editors remove
  'GET /api/audio': READ,
  'GET /api/audio/:id': READ,
  'GET /api/audio/:id/original': READ,
  'POST /api/audio': ['editor', 'operator'],
  'POST /api/audio/:id/renditions': ['editor', 'operator'],
  'DELETE /api/audio/:id': ['editor'],

  // bulletins: editors propose (approval), operators play now, cancel and stop
  'GET /api/bulletins': READ,
  'GET /api/bulletins/:id': READ,
  'GET /api/bulletins/:id/progress': READ,
  'GET /api/bulletins/:id/log': READ,
  'POST /api/bulletins': ['editor', 'operator'],
  'POST /api/bulletins/:id/cancel': ['operator'],
  'POST /api/stop': ['operator'],
  // urgent announcements: editors' wait for an approver (the bulletin rules), operators' go out
  'GET /api/announcements': READ,
  'GET /api/announcements/:id': READ,
  'GET /api/announcements/:id/reach': READ,
  'POST /api/announcements': ['editor', 'operator'],
  'POST /api/announcements/:id/cancel': ['operator'],
  // text-to-speech: those who announce hear it first
  'POST /api/tts/preview': ['editor', 'operator'],
  'POST /api/tts/normalise': ['editor', 'operator'],

  // programs: everyone reads; operators save; an editor's program waits in the approval queue
  // (APPROVAL_PRIORITIES); operators cancel, shift and suspend
  'GET /api/programs': READ,
  'GET /api/programs/:id': READ,
  'POST /api/programs/preview': ['editor', 'operator'],
  'POST /api/programs': ['editor', 'operator'],
  'PUT /api/programs/:id': ['editor', 'operator'],
  'DELETE /api/programs/:id': ['operator'],
  'GET /api/airings': READ,
  'GET /api/airings/:id': READ,
  'POST /api/airings/:id/cancel': ['operator'],
  'POST /api/airings/:id/shift': ['operator'],
  'POST /api/zones/:id/suspend': ['operator'],
  'GET /api/asrun': READ,
  'GET /api/schedules': READ,
  'POST /api/schedules/reload': ADMIN,
  'GET /api/asrun/summary': READ,
  'GET /api/stops': READ,
  'GET /api/stops/:id': READ,
  'GET /api/stops/:id/progress': READ,

  // approvals: everyone sees the queue; approvers decide; an operator may confirm an emergency
  // to every village as the second officer (checked by the domain), the creator may withdraw
  'GET /api/approvals': READ,
  'GET /api/approvals/:id': READ,
  'POST /api/approvals/:id/approve': ['approver', 'operator'],
  'POST /api/approvals/:id/reject': ['approver', 'operator'],
  'POST /api/approvals/:id/withdraw': 'any',

  // CAP 1.2 alerts: alert sources submit, officers read what came and what became of it
  'POST /api/cap': ['alerter'],
  'GET /api/cap': READ,
};

/** The rule for a route (`METHOD url` as Fastify registered it); unknown routes are admin-only. */
export function ruleFor(method: string, url: string): Rule {
  // Fastify answers HEAD for every GET route; it reveals what GET does, so it has GET's rule.
  return POLICY[`${method === 'HEAD' ? 'GET' : method} ${url}`] ?? ADMIN;
}

/** Whether holders of `roles` pass `rule`. Admins pass every rule. */
export function allows(rule: Rule, roles: readonly Role[]): boolean {
  if (roles.includes('admin')) return true;
  if (rule === 'any') return roles.some(isOfficerRole);
  return roles.some((r) => rule.includes(r));
}
