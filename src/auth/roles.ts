/**
 * Officer roles. A user holds one or more; what each may do is listed route by route in
 * `src/http/policy.ts`.
 *
 * - admin: users, receivers, zones, settings, keys; everything else too
 * - editor: audio and bulletins, which wait for an approver (Circular 39's creator → approver)
 * - approver: approves or rejects what editors made
 * - operator: play now, urgent announcements, cancel and all-stop
 * - viewer: reads everything an officer may see, changes nothing
 * - alerter: not a person but an alert source (a warning centre's CAP feed): may only submit CAP
 *   alerts (`POST /api/cap`); every other route refuses it, those open to any officer too. An
 *   alerter account holds no other role; an admin issues its API token (POST /api/users/:id/tokens).
 */
import { z } from 'zod';
import { ROLES, type Role } from '../contract/officer.js';

export { ROLES, type Role };
export const roleSchema = z.enum(ROLES);

/** Who made a request: a logged-in officer, through a session or an API token. */
export interface Principal {
  id: string;
  username: string;
  roles: Role[];
  /** zones this officer may address; null: every zone */
  zones: string[] | null;
  /** how the request was authenticated */
  via: 'bearer' | 'cookie' | 'api_token';
  /** sha256 of the session or API token, to bind CSRF tokens and to revoke */
  credentialId: string;
}

/** Roles of people (officers): every role but 'alerter'. */
export const isOfficerRole = (r: Role): boolean => r !== 'alerter';

export const hasRole = (p: Pick<Principal, 'roles'>, ...roles: Role[]): boolean =>
  p.roles.some((r) => roles.includes(r));
