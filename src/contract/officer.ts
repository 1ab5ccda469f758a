/**
 * An officer's account as the HTTP API answers it (GET /api/auth/me, GET /api/users): what the
 * controller's zod schema (`userSchema` in src/http/schemas.ts) promises and the phone app reads.
 * No imports: the app's own build includes this file.
 */

/** Officer roles; what each may do is in src/auth/roles.ts and src/http/policy.ts. */
export const ROLES = ['admin', 'editor', 'approver', 'operator', 'viewer', 'alerter'] as const;
export type Role = (typeof ROLES)[number];

export interface Officer {
  id: string;
  username: string;
  displayName: string | null;
  roles: Role[];
  /** the villages (zones) this officer may address; null: every village */
  zones: string[] | null;
  disabled: boolean;
  lockedUntil: string | null;
  /** whether a confirmation PIN is set (asked for an emergency to every village) */
  hasPin: boolean;
  createdAt: string;
}
