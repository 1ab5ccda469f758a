/**
 * Reads a `schedules/` folder (issue 8 §9) into one {@link SiteDefinition}, or the list of what is
 * wrong with it, each problem named by file, line, column and path. All or nothing: a folder with
 * any error yields errors only. This module never touches a database; the controller decides what
 * to do with a valid result (docs/schedules.md, "How the controller loads the folder").
 *
 * Which files: `*.yaml`, `*.yml` and `*.json` in the folder and in its direct subfolders (one level:
 * `programs/tet.yaml` is read, `a/b/c.yaml` is not), in code-point order of their relative path.
 * Names starting with "." are skipped (editor swap files, `.git`). Bounded in count and size.
 */
import { createHash } from 'node:crypto';
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { type SiteDefinition, type SiteFile, siteFileSchema } from './site.js';
import { type ParsedSource, parseSource } from './site-source.js';

export interface SiteError {
  /** relative to the folder, with "/" separators; "." for the folder itself */
  file: string;
  /** 1-based; 0 when the problem is not at one place in a file */
  line: number;
  column: number;
  /** where inside the file's data, e.g. "programs[1].recurrence.days[0]"; "" for the whole file */
  path: string;
  message: string;
}

/** What one file of a valid folder declared. */
export interface SiteFileInfo {
  file: string;
  /** sha256 (hex) of the file's bytes */
  sha256: string;
  site: boolean;
  zones: string[];
  receivers: string[];
  programs: string[];
}

/** Where an entity was declared: the file (relative) and the line of its entry. */
export interface SiteOrigin {
  file: string;
  line: number;
}

export interface SiteOrigins {
  zones: Record<string, SiteOrigin>;
  receivers: Record<string, SiteOrigin>;
  programs: Record<string, SiteOrigin>;
}

export type SiteLoadResult =
  | { ok: true; site: SiteDefinition; files: SiteFileInfo[]; origins: SiteOrigins; digest: string }
  | { ok: false; errors: SiteError[] };

export interface SiteLimits {
  /** files read at most (counted before reading any) */
  maxFiles: number;
  /** bytes per file at most */
  maxFileBytes: number;
  /** errors reported at most (the rest are counted in a last line) */
  maxErrors: number;
}

export const SITE_LIMITS: SiteLimits = { maxFiles: 200, maxFileBytes: 512 * 1024, maxErrors: 200 };

const EXT = /\.(ya?ml|json)$/i;

/** Reads and checks the folder `dir`. Synchronous: bounded, and run at start or on a reload. */
export function loadSiteFolder(dir: string, limits: SiteLimits = SITE_LIMITS): SiteLoadResult {
  const listed = listSiteFiles(dir, limits);
  if (!listed.ok) return { ok: false, errors: [listed.error] };

  const errors: SiteError[] = [];
  const parsed: Loaded[] = [];
  for (const file of listed.files) {
    const one = loadFile(dir, file, limits);
    if ('errors' in one) errors.push(...one.errors);
    else parsed.push(one);
  }
  // References across files are only checked once every file is valid: a zone file with a typo
  // would otherwise make every receiver of its zones look wrong.
  if (errors.length === 0) errors.push(...crossCheck(parsed));
  if (errors.length > 0) return { ok: false, errors: bounded(sortErrors(errors), limits.maxErrors) };

  const site = merge(parsed);
  const origins: SiteOrigins = { zones: {}, receivers: {}, programs: {} };
  for (const f of parsed) {
    for (const section of ['zones', 'receivers', 'programs'] as const) {
      (f.data[section] ?? []).forEach((e, i) => {
        origins[section][e.id] = { file: f.file, line: f.source.locate([section, i]).line };
      });
    }
  }
  const files: SiteFileInfo[] = parsed.map((f) => ({
    file: f.file,
    sha256: f.sha256,
    site: f.data.site !== undefined,
    zones: (f.data.zones ?? []).map((z) => z.id),
    receivers: (f.data.receivers ?? []).map((r) => r.id),
    programs: (f.data.programs ?? []).map((p) => p.id),
  }));
  return { ok: true, site, files, origins, digest: siteDigest(site) };
}

interface Loaded {
  file: string;
  sha256: string;
  data: SiteFile;
  source: Extract<ParsedSource, { ok: true }>;
}

type Listed = { ok: true; files: string[] } | { ok: false; error: SiteError };

function listSiteFiles(dir: string, limits: SiteLimits): Listed {
  const folderError = (message: string): Listed => ({
    ok: false,
    error: { file: '.', line: 0, column: 0, path: '', message },
  });
  let top: Dirent[];
  try {
    if (!statSync(dir).isDirectory()) return folderError(`${dir} is not a folder`);
    top = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    return folderError(`cannot read the folder ${dir}: ${(e as Error).message}`);
  }
  const files: string[] = [];
  const kindOf = (path: string, d: Dirent): 'file' | 'dir' | null => {
    if (d.isFile()) return 'file';
    if (d.isDirectory()) return 'dir';
    if (!d.isSymbolicLink()) return null;
    try {
      const s = statSync(path);
      return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : null;
    } catch {
      return null;
    }
  };
  for (const d of top) {
    if (d.name.startsWith('.')) continue;
    const kind = kindOf(join(dir, d.name), d);
    if (kind === 'file' && EXT.test(d.name)) files.push(d.name);
    if (kind !== 'dir') continue;
    let inner: Dirent[];
    try {
      inner = readdirSync(join(dir, d.name), { withFileTypes: true });
    } catch (e) {
      return folderError(`cannot read the folder ${d.name}: ${(e as Error).message}`);
    }
    for (const f of inner) {
      if (f.name.startsWith('.') || !EXT.test(f.name)) continue;
      if (kindOf(join(dir, d.name, f.name), f) === 'file') files.push(`${d.name}/${f.name}`);
    }
    if (files.length > limits.maxFiles) break;
  }
  if (files.length === 0)
    return folderError(`no site files (*.yaml, *.yml, *.json) in ${dir} or its direct subfolders`);
  if (files.length > limits.maxFiles)
    return folderError(`more than ${limits.maxFiles} site files in ${dir}; merge some`);
  return { ok: true, files: files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) };
}

function loadFile(dir: string, file: string, limits: SiteLimits): Loaded | { errors: SiteError[] } {
  const at = (message: string, line = 0, column = 0, path = ''): { errors: SiteError[] } => ({
    errors: [{ file, line, column, path, message }],
  });
  let bytes: Buffer;
  try {
    const size = statSync(join(dir, file)).size;
    if (size > limits.maxFileBytes)
      return at(`the file is ${size} bytes; a site file may have at most ${limits.maxFileBytes}: split it`);
    bytes = readFileSync(join(dir, file));
  } catch (e) {
    return at(`cannot read the file: ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return at('the file is not UTF-8 text: save it as UTF-8');
  }
  const source = parseSource(text, /\.json$/i.test(file) ? 'json' : 'yaml');
  if (!source.ok) return { errors: source.problems.map((p) => ({ file, path: '', ...p })) };
  const result = siteFileSchema.safeParse(source.data ?? {});
  if (!result.success) return { errors: result.error.issues.map((iss) => issueToError(file, source, iss)) };
  return { file, sha256: createHash('sha256').update(bytes).digest('hex'), data: result.data, source };
}

/** `["programs", 1, "recurrence", "days", 0]` → `programs[1].recurrence.days[0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(String(seg))) out += out ? `.${String(seg)}` : String(seg);
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

function issueToError(
  file: string,
  source: Extract<ParsedSource, { ok: true }>,
  iss: z.core.$ZodIssue,
): SiteError {
  const path = iss.path;
  if (iss.code === 'unrecognized_keys') {
    const key = iss.keys[0] ?? '';
    const pos = source.locateKey(path, key);
    return { file, ...pos, path: formatPath([...path, key]), message: iss.message };
  }
  const where = source.locate(path);
  const pos = { line: where.line, column: where.column };
  const last = path[path.length - 1];
  let message = iss.message;
  // zod 4 lists a discriminated union's values on the issue, outside its declared type
  const options = iss.code === 'invalid_union' ? (iss as { options?: unknown[] }).options : undefined;
  const discriminator = iss.code === 'invalid_union' ? iss.discriminator : undefined;
  if (path.length === 0 && iss.code === 'invalid_type') {
    message = 'a site file is a mapping with any of the keys site, zones, receivers, programs';
  } else if (!where.exact && (iss.code === 'invalid_type' || iss.code === 'invalid_union')) {
    message =
      `"${String(last)}" is missing` + (iss.code === 'invalid_type' ? ` (expected ${iss.expected})` : '');
    if (options) message += `: one of ${options.join(', ')}`;
  } else if (discriminator && options) {
    message = `"${discriminator}" must be one of: ${options.join(', ')}`;
  } else if (iss.code === 'invalid_value') {
    message = `must be one of: ${iss.values.map(String).join(', ')}`;
  } else if (iss.code === 'invalid_union') {
    // a plain union (a duration: number or text): name what each branch expected
    const expected = iss.errors.flat().flatMap((e) => (e.code === 'invalid_type' ? [e.expected] : []));
    if (expected.length > 0 && where.exact)
      message = `expected ${expected.join(' or ')}, found ${describe(where.scalar)}`;
  }
  const shown = where.scalar === undefined ? '' : (JSON.stringify(where.scalar) ?? String(where.scalar));
  if (message.includes(shown)) {
    // the message already quotes the value
  } else if (where.exact && where.scalar !== undefined && iss.code !== 'invalid_type') {
    message += ` (found ${shown.length > 60 ? `${shown.slice(0, 57)}…` : shown})`;
  } else if (where.exact && iss.code === 'invalid_type') {
    message = `expected ${iss.expected}, found ${describe(where.scalar)}`;
  }
  return { file, ...pos, path: formatPath(path), message };
}

function describe(v: unknown): string {
  if (v === undefined) return 'a list or mapping';
  if (v === null) return 'nothing (null)';
  const shown = JSON.stringify(v) ?? String(v);
  return `${typeof v} ${shown.length > 60 ? `${shown.slice(0, 57)}…` : shown}`;
}

/** Checks that span files: one `site`, unique ids, and references to declared zones and receivers. */
function crossCheck(files: Loaded[]): SiteError[] {
  const errors: SiteError[] = [];
  const err = (f: Loaded, path: PropertyKey[], message: string) => {
    const { line, column } = f.source.locate(path);
    errors.push({ file: f.file, line, column, path: formatPath(path), message });
  };
  const ref = (f: Loaded, path: PropertyKey[]) => `${f.file}:${f.source.locate(path).line}`;

  const withSite = files.filter((f) => f.data.site !== undefined);
  const siteKey = (f: Loaded) => f.source.locateKey([], 'site');
  for (const f of withSite.slice(1)) {
    const first = `${withSite[0]!.file}:${siteKey(withSite[0]!).line}`;
    const { line, column } = siteKey(f);
    errors.push({
      file: f.file,
      line,
      column,
      path: 'site',
      message: `"site" is declared more than once: here and in ${first}`,
    });
  }
  if (withSite.length === 0)
    errors.push({
      file: '.',
      line: 0,
      column: 0,
      path: 'site',
      message:
        'no file declares "site" (the commune\'s name and time zone); add it to one file, e.g. site.yaml',
    });

  const declared = { zones: new Map<string, string>(), receivers: new Map<string, string>() };
  const noun = { zones: 'zone', receivers: 'receiver', programs: 'program' } as const;
  for (const section of ['zones', 'receivers', 'programs'] as const) {
    const seen = new Map<string, string>();
    for (const f of files) {
      (f.data[section] ?? []).forEach((e, i) => {
        const first = seen.get(e.id);
        if (first)
          err(f, [section, i, 'id'], `${noun[section]} id "${e.id}" is declared twice: here and in ${first}`);
        else seen.set(e.id, ref(f, [section, i]));
      });
    }
    if (section !== 'programs') for (const [id, at] of seen) declared[section].set(id, at);
  }

  const known = (section: 'zones' | 'receivers') => {
    const ids = [...declared[section].keys()];
    if (ids.length === 0) return `no ${section} are declared in the folder`;
    return `declared ${section}: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, … (${ids.length} in all)` : ''}`;
  };
  for (const f of files) {
    (f.data.receivers ?? []).forEach((r, i) => {
      if (!declared.zones.has(r.zone))
        err(f, ['receivers', i, 'zone'], `zone "${r.zone}" is not declared in any file (${known('zones')})`);
    });
    (f.data.programs ?? []).forEach((p, i) => {
      (p.target.zones ?? []).forEach((z, j) => {
        if (!declared.zones.has(z))
          err(
            f,
            ['programs', i, 'target', 'zones', j],
            `zone "${z}" is not declared in any file (${known('zones')})`,
          );
      });
      (p.target.receivers ?? []).forEach((r, j) => {
        if (!declared.receivers.has(r))
          err(
            f,
            ['programs', i, 'target', 'receivers', j],
            `receiver "${r}" is not declared in any file (${known('receivers')})`,
          );
      });
    });
  }
  return errors;
}

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function merge(files: Loaded[]): SiteDefinition {
  const site = files.find((f) => f.data.site)!.data.site!;
  return {
    site,
    zones: files.flatMap((f) => f.data.zones ?? []).sort(byId),
    receivers: files.flatMap((f) => f.data.receivers ?? []).sort(byId),
    programs: files.flatMap((f) => f.data.programs ?? []).sort(byId),
  };
}

/**
 * sha256 (hex) of the site's normalized content (keys sorted, defaults applied, lists by id). The
 * same for the same meaning however it is split over files, ordered or commented; moving a program
 * to another file does not change it (its origin does: see `origins`).
 */
export function siteDigest(site: SiteDefinition): string {
  return createHash('sha256').update(canonicalJson(site)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function sortErrors(errors: SiteError[]): SiteError[] {
  return [...errors].sort((a, b) =>
    a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.line - b.line || a.column - b.column,
  );
}

function bounded(errors: SiteError[], max: number): SiteError[] {
  if (errors.length <= max) return errors;
  const rest = errors.length - max;
  return [
    ...errors.slice(0, max),
    { file: '.', line: 0, column: 0, path: '', message: `… and ${rest} more error(s) not shown` },
  ];
}

/** One line per error: `file:line:col  path: message` (position and path left out when unknown). */
export function formatSiteErrors(errors: readonly SiteError[]): string {
  return errors
    .map((e) => {
      const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file;
      return `${where}  ${e.path ? `${e.path}: ` : ''}${e.message}`;
    })
    .join('\n');
}
