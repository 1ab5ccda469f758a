/**
 * `npm run schedules -- check DIR`: validates a site folder (schedules/, docs/schedules.md) without
 * applying it — no database, no broker, no controller needed. Prints a summary (zones, receivers,
 * programs and each program's next airings in the site's time zone) and exits 0, or prints every
 * error as `file:line:col  path: message` and exits 1. Exit 2: the command line itself is wrong.
 *
 *   npm run schedules -- check schedules/huong-dao [--now 2026-12-03T00:00:00Z] [--next 3]
 *   npm run schedules -- preview schedules/huong-dao [--days 7] [--now …]
 *
 * `preview` lists every airing of the coming days in time order. `--now` fixes "now" (to see a
 * date ahead, or for reproducible output).
 */
import { parseArgs } from 'node:util';
import { localTime, nextAirings } from '../src/domain/programs/next-airings.js';
import { expand } from '../src/domain/programs/recurrence.js';
import type { ProgramItemInput, ProgramTarget } from '../src/domain/programs/schema.js';
import type { SiteDefinition, SiteProgram } from '../src/domain/programs/site.js';
import { formatSiteErrors, loadSiteFolder, type SiteFileInfo } from '../src/domain/programs/site-files.js';

const USAGE = `usage: npm run schedules -- check DIR [--now ISO-INSTANT] [--next N]
       npm run schedules -- preview DIR [--days N] [--now ISO-INSTANT]`;

class UsageError extends Error {}

function main(argv: string[]): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const result = loadSiteFolder(parsed.dir);
  if (!result.ok) {
    const n = result.errors.length;
    process.stderr.write(`${parsed.dir}: invalid, ${n} error${n === 1 ? '' : 's'} — nothing would change\n`);
    process.stderr.write(`${formatSiteErrors(result.errors)}\n`);
    return 1;
  }
  const out =
    parsed.command === 'check'
      ? summary(parsed.dir, result.site, result.files, result.digest, parsed.now, parsed.next)
      : preview(result.site, parsed.now, parsed.days);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function parse(argv: string[]) {
  let values: { now?: string; days?: string; next?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        now: { type: 'string' },
        days: { type: 'string' },
        next: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help)
    return { help: true, command: 'check', dir: '', now: new Date(), days: 7, next: 3 } as const;
  const [command, dir, ...rest] = positionals;
  if (command !== 'check' && command !== 'preview')
    throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
  if (!dir) throw new UsageError(`"${command}" needs the folder to read`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (command === 'check' && values.days !== undefined) throw new UsageError('--days is for "preview"');
  if (command === 'preview' && values.next !== undefined) throw new UsageError('--next is for "check"');
  const now = values.now === undefined ? new Date() : new Date(values.now);
  if (Number.isNaN(now.getTime()) || (values.now !== undefined && !/[zZ]|[+-]\d\d:\d\d$/.test(values.now)))
    throw new UsageError(`--now "${values.now}" is not an instant such as 2026-12-03T00:00:00Z`);
  const int = (name: string, v: string | undefined, dflt: number, max: number) => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new UsageError(`--${name} must be a whole number 1 to ${max}`);
    return n;
  };
  return {
    help: false,
    command,
    dir,
    now,
    days: int('days', values.days, 7, 62),
    next: int('next', values.next, 3, 20),
  } as const;
}

function summary(
  dir: string,
  def: SiteDefinition,
  files: SiteFileInfo[],
  digest: string,
  now: Date,
  next: number,
): string[] {
  const tz = def.site.timeZone;
  const lines = [
    `${dir}: valid — ${files.length} file${files.length === 1 ? '' : 's'}: ${files.map((f) => f.file).join(', ')}`,
    `Site: ${def.site.name} (time zone ${tz})`,
    '',
    `Zones: ${def.zones.length}`,
  ];
  for (const z of def.zones) {
    const rx = def.receivers.filter((r) => r.zone === z.id).map((r) => r.id);
    const quiet = z.quietHours.map((q) => `${q.from}–${q.to}`).join(', ');
    lines.push(
      `  ${z.id}  ${z.name}  quiet ${quiet || 'none'}  receivers: ${rx.length > 0 ? rx.join(', ') : 'none'}`,
    );
  }
  lines.push('', `Receivers: ${def.receivers.length}`, '', `Programs: ${def.programs.length}`);
  const local = (instant: string) => {
    const t = localTime(instant, tz);
    return `${t.weekday} ${t.date} ${t.time} ${t.offset}  (${instant})`;
  };
  for (const p of def.programs) {
    lines.push(
      `  ${p.id}  ${p.title}`,
      `    ${recurrenceText(p)}; ${p.priority}; ${targetText(p.target)}${p.enabled ? '' : '; DISABLED'}`,
      `    items: ${p.items.map(itemText).join(' → ')}`,
    );
    if (!p.enabled) continue;
    const airings = nextAirings(p.recurrence, tz, now, next);
    if (airings.length === 0) lines.push('    next: none (no airing after now)');
    airings.forEach((a, i) => {
      lines.push(
        `    ${i === 0 ? 'next:' : '     '} ${local(a.instant)}${a.adjusted ? ` [${a.adjusted}]` : ''}`,
      );
    });
  }
  lines.push('', `Digest: ${digest}`);
  return lines;
}

function preview(def: SiteDefinition, now: Date, days: number): string[] {
  const tz = def.site.timeZone;
  const to = new Date(now.getTime() + days * 86_400_000);
  const rows = def.programs
    .filter((p) => p.enabled)
    .flatMap((p) => expand(p.recurrence, tz, now, to, 10_000).map((a) => ({ a, p })))
    .sort((x, y) => Date.parse(x.a.instant) - Date.parse(y.a.instant) || (x.p.id < y.p.id ? -1 : 1));
  const lines = [`${def.site.name}: ${rows.length} airing(s) in the next ${days} day(s), time zone ${tz}`];
  let day = '';
  for (const { a, p } of rows) {
    const t = localTime(a.instant, tz);
    if (t.date !== day) {
      day = t.date;
      lines.push('', `${t.weekday} ${t.date}`);
    }
    lines.push(`  ${t.time}  ${p.id}  ${p.title}  (${runtimeText(p)}, ${targetText(p.target)})`);
  }
  return lines;
}

function recurrenceText(p: SiteProgram): string {
  const r = p.recurrence;
  const range = `from ${r.from}${r.until ? ` until ${r.until}` : ''}`;
  const extra = [
    r.except.length > 0 ? `${r.except.length} exception(s)` : '',
    r.moved.length > 0 ? `${r.moved.length} moved` : '',
  ].filter(Boolean);
  const when =
    r.kind === 'once'
      ? `once on ${r.from} at ${r.at}`
      : r.kind === 'daily'
        ? `${r.every === 1 ? 'daily' : `every ${r.every} days`} at ${r.at}, ${range}`
        : `${r.every === 1 ? 'weekly' : `every ${r.every} weeks`} on ${r.days.join(',')} at ${r.at}, ${range}`;
  return extra.length > 0 ? `${when} (${extra.join(', ')})` : when;
}

function targetText(t: ProgramTarget): string {
  if (t.all) return 'all receivers';
  const parts = [
    t.zones?.length ? `zones ${t.zones.join(',')}` : '',
    t.receivers?.length ? `receivers ${t.receivers.join(',')}` : '',
  ];
  return parts.filter(Boolean).join(' + ');
}

function itemText(i: ProgramItemInput): string {
  switch (i.kind) {
    case 'audio':
      return `audio "${i.audio}"`;
    case 'relay':
      return `relay ${i.url} ${minutes(i.duration)}${i.fallback ? ` (fallback "${i.fallback}")` : ''}`;
    case 'pause':
      return `pause ${minutes(i.duration)}`;
  }
}

/** What is known of its length ahead: relays and pauses; audio lengths come from the library. */
function runtimeText(p: SiteProgram): string {
  const fixed = p.items.reduce((s, i) => s + (i.kind === 'audio' ? 0 : i.duration), 0);
  const audio = p.items.filter((i) => i.kind === 'audio').length;
  const parts = [
    fixed > 0 ? minutes(fixed) : '',
    audio > 0 ? `${audio} audio file${audio === 1 ? '' : 's'}` : '',
  ];
  return parts.filter(Boolean).join(' + ');
}

function minutes(s: number): string {
  const m = Math.floor(s / 60);
  const r = s % 60;
  return m === 0 ? `${r} s` : r === 0 ? `${m} min` : `${m} min ${r} s`;
}

process.exitCode = main(process.argv.slice(2));
