/**
 * Which receivers a bulletin goes to: every adopted one, those of some zones (villages), and some
 * named ones. Unknown zones or receivers, and receivers not adopted yet, are refused with a 400
 * that names them, before anything is written.
 */
import { badRequest } from '../../errors.js';
import type { Fleet } from '../fleet/fleet.js';
import type { BulletinTarget } from './repo.js';

/** Ids of the adopted receivers `target` covers, each once. */
export function resolveTargets(fleet: Fleet, target: BulletinTarget): string[] {
  const ids = new Set<string>();
  if (target.all) return fleet.adoptedIds();
  const zones = [...new Set(target.zones ?? [])];
  const known = new Set(fleet.listZones().map((z) => z.id));
  const unknownZones = zones.filter((z) => !known.has(z));
  if (unknownZones.length) {
    throw badRequest('unknown_zone', `Unknown zone(s): ${unknownZones.join(', ')}.`, {
      zones: unknownZones,
    });
  }
  for (const id of fleet.adoptedIds(zones)) ids.add(id);
  const unknown: string[] = [];
  const notAdopted: string[] = [];
  for (const id of new Set(target.receivers ?? [])) {
    let r: ReturnType<Fleet['getReceiver']> | null = null;
    try {
      r = fleet.getReceiver(id);
    } catch {
      r = null;
    }
    if (!r) unknown.push(id);
    else if (r.adoption !== 'adopted') notAdopted.push(id);
    else ids.add(id);
  }
  if (unknown.length) {
    throw badRequest('unknown_receiver', `Unknown receiver(s): ${unknown.join(', ')}.`, {
      receivers: unknown,
    });
  }
  if (notAdopted.length) {
    throw badRequest(
      'receiver_pending',
      `Receiver(s) not adopted yet: ${notAdopted.join(', ')}. Adopt them into a zone first.`,
      { receivers: notAdopted },
    );
  }
  return [...ids];
}
