/**
 * Zone scope: an officer limited to some villages may address only those. Checked by the domain
 * for bulletins, approvals, cancels and stops, after the role policy let the call through.
 */
import type { BulletinTarget } from '../domain/bulletins/repo.js';
import type { Fleet } from '../domain/fleet/fleet.js';
import { AppError } from '../errors.js';
import type { Principal } from './roles.js';

/** The zone of a receiver: null when it has none (pending), undefined when it is unknown. */
function receiverZone(fleet: Fleet, id: string): string | null | undefined {
  try {
    return fleet.getReceiver(id).zoneId;
  } catch {
    return undefined;
  }
}

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
    const zoneId = receiverZone(fleet, id);
    // An unknown receiver gets the same answer as another zone's: a scoped officer must not learn
    // which receiver ids exist outside their zones.
    if (typeof zoneId !== 'string' || !allowed.has(zoneId)) outside.push(`receiver ${id}`);
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

/**
 * Whether an officer limited to some zones may see something sent to `target`: everything sent to
 * all villages, to one of their zones, or to a receiver in one of them. Officers without a scope see
 * everything.
 */
export function targetTouchesScope(
  who: Pick<Principal, 'zones'>,
  target: BulletinTarget,
  fleet: Fleet,
): boolean {
  if (who.zones === null || target.all) return true;
  const allowed = new Set(who.zones);
  if ((target.zones ?? []).some((z) => allowed.has(z))) return true;
  return (target.receivers ?? []).some((id) => {
    const zoneId = receiverZone(fleet, id);
    return typeof zoneId === 'string' && allowed.has(zoneId);
  });
}

/** 403 unless `targetTouchesScope`. */
export function assertVisibleInScope(
  who: Pick<Principal, 'zones'>,
  target: BulletinTarget,
  fleet: Fleet,
): void {
  if (!targetTouchesScope(who, target, fleet)) {
    throw new AppError(403, 'out_of_scope', 'This was sent outside the zones you may see.');
  }
}

/**
 * The same rule as `targetTouchesScope` as an SQL condition on a JSON target column, for lists
 * that page in SQL. `zones` are bound as parameters.
 */
export function targetScopeSql(
  targetColumn: string,
  zones: readonly string[],
): { sql: string; args: string[] } {
  const marks = zones.map(() => '?').join(', ') || 'NULL';
  return {
    sql: `(json_extract(${targetColumn}, '$.all') = 1
      OR EXISTS (SELECT 1 FROM json_each(${targetColumn}, '$.zones') j WHERE j.value IN (${marks}))
      OR EXISTS (SELECT 1 FROM json_each(${targetColumn}, '$.receivers') j
                 JOIN receivers r ON r.id = j.value WHERE r.zone_id IN (${marks})))`,
    args: [...zones, ...zones],
  };
}

/**
 * Throws 403 unless receiver `id` is in the officer's zones; for a scoped officer an unknown id gets
 * the same 403 as another zone's (officers without a scope get the usual 404 for an unknown one).
 */
export function assertReceiverInScope(who: Pick<Principal, 'zones'>, id: string, fleet: Fleet): void {
  if (who.zones === null) return;
  const zoneId = receiverZone(fleet, id);
  if (typeof zoneId !== 'string' || !who.zones.includes(zoneId)) {
    throw new AppError(
      403,
      'out_of_scope',
      `Receiver "${id}" is not in the zones you may see (${who.zones.join(', ')}).`,
    );
  }
}

/** Throws 403 unless the officer's scope includes `zoneId` (officers without a scope see every zone). */
export function assertZoneInScope(who: Pick<Principal, 'zones'>, zoneId: string | null): void {
  if (who.zones === null) return;
  if (zoneId === null || !who.zones.includes(zoneId)) {
    throw new AppError(403, 'out_of_scope', `You may see only these zones: ${who.zones.join(', ')}.`);
  }
}
