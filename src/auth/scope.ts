/**
 * Zone scope: an officer limited to some villages may address only those. Checked by the domain
 * for bulletins, approvals, cancels and stops, after the role policy let the call through.
 */
import type { BulletinTarget } from '../domain/bulletins/repo.js';
import type { Fleet } from '../domain/fleet/fleet.js';
import { AppError } from '../errors.js';
import type { Principal } from './roles.js';

/** Throws 403 when `target` reaches beyond the zones `who` may address. */
export function assertTargetInScope(
  who: Pick<Principal, 'zones'>,
  target: BulletinTarget,
  fleet: Fleet,
): void {
  const scope = who.zones;
  if (scope === null) return;
  const allowed = new Set(scope);
  const outside: string[] = [];
  if (target.all) {
    throw new AppError(
      403,
      'out_of_scope',
      `You may address only these zones: ${scope.join(', ')}; choose them instead of "all".`,
      { zones: scope },
    );
  }
  for (const z of target.zones ?? []) if (!allowed.has(z)) outside.push(`zone ${z}`);
  for (const id of target.receivers ?? []) {
    let zoneId: string | null = null;
    try {
      zoneId = fleet.getReceiver(id).zoneId;
    } catch {
      continue; // unknown receivers are refused later with a 400 that names them
    }
    if (!zoneId || !allowed.has(zoneId)) outside.push(`receiver ${id}`);
  }
  if (outside.length) {
    throw new AppError(
      403,
      'out_of_scope',
      `Outside the zones you may address (${scope.join(', ')}): ${outside.join(', ')}.`,
      { zones: scope, outside },
    );
  }
}
