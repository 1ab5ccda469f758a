/**
 * Applies the schedules folder (./site-files.ts) to the controller: zones, receivers, quiet hours
 * and programs, as docs/schedules.md §6 states. All or nothing before anything is written: an
 * invalid folder, a time zone other than TZ, or a file program whose id an API program holds
 * changes nothing and answers the errors. Programs from files are owned by their file (the API
 * refuses to edit them, naming it); a program that left the files is removed (its future airings
 * do not air; the as-run log keeps what aired).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Db } from '../../storage/db.js';
import type { Fleet } from '../fleet/fleet.js';
import type { ScheduleService } from './service.js';
import { loadSiteFolder, type SiteError } from './site-files.js';

export type SiteApplyResult =
  | {
      status: 'applied' | 'unchanged';
      dir: string;
      digest: string;
      zones: number;
      receivers: number;
      programs: number;
      /** receivers created by this load: an admin issues their credentials (provisioning bundle) */
      created: string[];
    }
  | { status: 'invalid'; dir: string; errors: SiteError[] };

export interface SiteStatus {
  dir: string | null;
  digest: string | null;
  appliedAt: string | null;
  /** errors of the last load, if it was refused */
  errors: SiteError[];
}

export function createSiteLoader(deps: {
  db: Db;
  fleet: Fleet;
  schedules: ScheduleService;
  dir: string | undefined;
  timeZone: string;
  log: Logger;
}) {
  const { db, fleet, schedules, log } = deps;
  const meta = {
    get: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    set: db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
  };
  const status: SiteStatus = {
    dir: deps.dir ? resolve(deps.dir) : null,
    digest: meta.get.get('site_digest')?.value ?? null,
    appliedAt: meta.get.get('site_applied_at')?.value ?? null,
    errors: [],
  };

  async function load(): Promise<SiteApplyResult | null> {
    if (!status.dir) return null;
    const dir = status.dir;
    const result = loadSiteFolder(dir);
    const refuse = (errors: SiteError[]): SiteApplyResult => {
      status.errors = errors;
      log.error({ dir, errors: errors.slice(0, 20) }, 'schedules folder refused; nothing changed');
      return { status: 'invalid', dir, errors };
    };
    if (!result.ok) return refuse(result.errors);
    const { site, origins, digest } = result;
    if (site.site.timeZone !== deps.timeZone)
      return refuse([
        {
          file: '.',
          line: 0,
          column: 0,
          path: 'site.timeZone',
          message: `the folder's time zone ${site.site.timeZone} differs from the controller's TZ ${deps.timeZone}; times would mean two things`,
        },
      ]);
    const collisions = site.programs.filter((p) => schedules.programs.get(p.id)?.source === 'api');
    if (collisions.length)
      return refuse(
        collisions.map((p) => ({
          file: origins.programs[p.id]?.file ?? '.',
          line: origins.programs[p.id]?.line ?? 0,
          column: 0,
          path: `programs.${p.id}`,
          message: `a program made through the API already has the id "${p.id}"; rename one of them`,
        })),
      );

    const where = (o: { file: string; line: number } | undefined) => (o ? `${o.file}:${o.line}` : null);
    const unchanged = digest === status.digest;
    const created: string[] = [];
    if (!unchanged) {
      const zones = new Map(fleet.listZones().map((z) => [z.id, z]));
      for (const z of site.zones) {
        const known = zones.get(z.id);
        if (!known) fleet.createZone({ id: z.id, name: z.name });
        else if (known.name !== z.name) fleet.renameZone(z.id, z.name);
        schedules.setQuietHours(z.id, z.quietHours ?? [], where(origins.zones[z.id]));
      }
      for (const r of site.receivers) {
        let known: ReturnType<Fleet['getReceiver']> | null = null;
        try {
          known = fleet.getReceiver(r.id);
        } catch {
          known = null;
        }
        if (!known || known.adoption === 'pending') {
          // Registered (adopted into its zone); its credentials are shown when an admin issues them.
          await fleet.createReceiver({ id: r.id, name: r.name, zoneId: r.zone });
          created.push(r.id);
        } else if (known.zoneId !== r.zone || (r.name && known.name !== r.name)) {
          await fleet.updateReceiver(r.id, { zoneId: r.zone, ...(r.name ? { name: r.name } : {}) });
        }
      }
      const inFiles = new Set(site.programs.map((p) => p.id));
      for (const p of schedules.programs.list())
        if (p.source === 'file' && !inFiles.has(p.id))
          schedules.programs.remove(p.id, new Date(schedules.now()).toISOString());
      for (const { id, ...body } of site.programs) {
        schedules.saveProgram(id, body, {
          user: null,
          source: 'file',
          sourceFile: where(origins.programs[id]),
          // the folder was reviewed where it is kept; overlaps are its authors' to order
          force: true,
        });
      }
      const now = new Date(schedules.now()).toISOString();
      meta.set.run('site_digest', digest);
      meta.set.run('site_applied_at', now);
      status.digest = digest;
      status.appliedAt = now;
    } else {
      // Only where each program is written may have moved.
      for (const { id, ...body } of site.programs) {
        const p = schedules.programs.get(id);
        const file = where(origins.programs[id]);
        if (p && p.sourceFile !== file)
          schedules.saveProgram(id, body, { user: null, source: 'file', sourceFile: file, force: true });
      }
    }
    status.errors = [];
    await schedules.refresh();
    log.info(
      { dir, digest, unchanged, zones: site.zones.length, programs: site.programs.length },
      unchanged ? 'schedules folder unchanged' : 'schedules folder applied',
    );
    return {
      status: unchanged ? 'unchanged' : 'applied',
      dir,
      digest,
      zones: site.zones.length,
      receivers: site.receivers.length,
      programs: site.programs.length,
      created,
    };
  }

  return {
    status: (): SiteStatus => ({ ...status }),
    /** Loads and applies the folder (null when no folder is configured). Reloads never overlap. */
    reload: (() => {
      let running: Promise<SiteApplyResult | null> | null = null;
      return () => {
        running ??= load().finally(() => {
          running = null;
        });
        return running;
      };
    })(),
  };
}
export type SiteLoader = ReturnType<typeof createSiteLoader>;
