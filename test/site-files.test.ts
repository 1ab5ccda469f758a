/**
 * The declarative schedules/ folder (issue 8 §9): the Hướng Đạo sample loads as written; invalid
 * folders give errors that name the file, the line and the path, and nothing else; the `check`
 * command's output and exit codes.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nextAirings } from '../src/domain/programs/next-airings.js';
import {
  formatSiteErrors,
  loadSiteFolder,
  SITE_LIMITS,
  type SiteError,
  type SiteLoadResult,
} from '../src/domain/programs/site-files.js';

const SAMPLE = join(process.cwd(), 'schedules/huong-dao');
const VN = 'Asia/Ho_Chi_Minh';
const NOW = new Date('2026-12-03T00:00:00Z'); // Thursday 07:00 in Vietnam

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A temporary folder holding `files` (relative path → text). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'loalang-site-'));
  temps.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const SITE = 'site:\n  name: Xã Thử\n';
const ZONES = `zones:
  - id: thon-01
    name: Thôn 1
  - id: thon-02
    name: Thôn 2
receivers:
  - { id: rx-01, zone: thon-01 }
`;
/** A valid program; `at`, `days` and the target are easy to spoil. Line 1 is "programs:". */
const program = (
  o: { id?: string; at?: string; days?: string; zones?: string; extra?: string } = {},
) => `programs:
  - id: ${o.id ?? 'chieu'}
    title: Chiều
    target: { zones: [${o.zones ?? 'thon-01, thon-02'}] }
    recurrence:
      kind: weekly
      days: [${o.days ?? 'mo, tu'}]
      at: "${o.at ?? '17:00'}"
      from: "2026-01-01"${o.extra ?? ''}
    items:
      - { kind: audio, audio: Bản tin chiều }
`;

function errorsOf(r: SiteLoadResult): SiteError[] {
  if (r.ok) throw new Error('expected the folder to be invalid');
  return r.errors;
}

describe('the Hướng Đạo sample', () => {
  const r = loadSiteFolder(SAMPLE);
  if (!r.ok) throw new Error(`the sample is invalid:\n${formatSiteErrors(r.errors)}`);

  it('has 14 villages with quiet hours 21:00–05:00, one receiver each', () => {
    expect(r.site.site).toEqual({ name: 'Xã Hướng Đạo', timeZone: VN });
    expect(r.site.zones.map((z) => z.id)).toEqual(
      Array.from({ length: 14 }, (_, i) => `thon-${String(i + 1).padStart(2, '0')}`),
    );
    expect(r.site.zones.map((z) => z.name)).toContain('Thôn 14');
    for (const z of r.site.zones) expect(z.quietHours).toEqual([{ from: '21:00', to: '05:00' }]);
    expect(r.site.receivers).toHaveLength(14);
    for (const rx of r.site.receivers) expect(rx.id).toBe(`rx-${rx.zone}`);
    expect(r.files.map((f) => f.file)).toEqual(['programs.yaml', 'site.yaml', 'zones.yaml']);
  });

  it('has the 05:00 daily, 17:00 Mon–Sat and Sunday programs, normalized with defaults', () => {
    expect(r.site.programs.map((p) => p.id)).toEqual(['chieu', 'chu-nhat', 'sang']);
    const sang = r.site.programs.find((p) => p.id === 'sang')!;
    expect(sang.items).toEqual([
      { kind: 'relay', url: 'https://stream.vov.vn/vov1', duration: 1800, fallback: 'Nhạc hiệu' },
      { kind: 'audio', audio: 'Bản tin sáng' },
    ]);
    expect(sang).toMatchObject({ priority: 'normal', grace: 600, late: 'join', enabled: true });
    const chieu = r.site.programs.find((p) => p.id === 'chieu')!;
    expect(chieu.items.map((i) => (i.kind === 'audio' ? i.audio : i.kind))).toEqual([
      'relay',
      'Bản tin chiều',
      'pause',
      'Thông báo của UBND xã',
    ]);
    const line = readFileSync(join(SAMPLE, 'programs.yaml'), 'utf8').split('\n').indexOf('  - id: sang') + 1;
    expect(r.origins.programs.sang).toEqual({ file: 'programs.yaml', line });
  });

  it('airs at 05:00 and 17:00 in Vietnam, 22:00 and 10:00 UTC, the 17:00 one never on Sunday', () => {
    const at = (id: string, n: number) =>
      nextAirings(r.site.programs.find((p) => p.id === id)!.recurrence, VN, NOW, n).map((a) => a.instant);
    expect(at('sang', 3)).toEqual(['2026-12-03T22:00:00Z', '2026-12-04T22:00:00Z', '2026-12-05T22:00:00Z']);
    expect(at('chieu', 4)).toEqual([
      '2026-12-03T10:00:00Z',
      '2026-12-04T10:00:00Z',
      '2026-12-05T10:00:00Z',
      // Sunday the 6th is skipped
      '2026-12-07T10:00:00Z',
    ]);
    expect(at('chu-nhat', 1)).toEqual(['2026-12-06T10:00:00Z']);
  });

  it('has a digest that ignores how the files are split and commented, and sees a change', () => {
    const text = (f: string) => readFileSync(join(SAMPLE, f), 'utf8');
    const oneFile = folder({
      'all.yaml': [text('zones.yaml'), text('programs.yaml'), text('site.yaml')].join('\n'),
    });
    const same = loadSiteFolder(oneFile);
    expect(same.ok && same.digest).toBe(r.digest);
    const changed = folder({
      'site.yaml': text('site.yaml'),
      'zones.yaml': text('zones.yaml'),
      'programs.yaml': text('programs.yaml').replace('title: Chương trình buổi sáng', 'title: Buổi sáng'),
    });
    const other = loadSiteFolder(changed);
    expect(other.ok).toBe(true);
    expect(other.ok && other.digest).not.toBe(r.digest);
  });
});

describe('an invalid folder gives errors only, each with file, line and path', () => {
  it('a YAML syntax error', () => {
    const dir = folder({
      'site.yaml': SITE,
      'zones.yaml': ZONES,
      'programs.yaml': 'programs:\n  - id: [a, b\n',
    });
    const [e, ...rest] = errorsOf(loadSiteFolder(dir));
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ file: 'programs.yaml', line: 3, path: '' });
    expect(e!.message).toMatch(/^YAML syntax: /);
  });

  it('an unknown key, with the key it probably meant', () => {
    const bad = program().replace('    recurrence:', '    recurence:');
    const errors = errorsOf(
      loadSiteFolder(folder({ 'site.yaml': SITE, 'zones.yaml': ZONES, 'p.yaml': bad })),
    );
    expect(errors).toContainEqual(
      expect.objectContaining({ file: 'p.yaml', line: 5, column: 5, path: 'programs[0].recurence' }),
    );
    const e = errors.find((x) => x.path === 'programs[0].recurence')!;
    expect(e.message).toContain('unknown key "recurence" (did you mean "recurrence"?)');
    // and the real key is reported missing, at the program
    expect(errors).toContainEqual(expect.objectContaining({ line: 2, path: 'programs[0].recurrence' }));
  });

  it('an unknown key deep inside (a typo in the recurrence), and one at the top of a file', () => {
    const bad = program({ extra: '\n      evry: 2' });
    const errors = errorsOf(
      loadSiteFolder(folder({ 'site.yaml': `${SITE}zone: []\n`, 'zones.yaml': ZONES, 'p.yaml': bad })),
    );
    expect(errors).toEqual([
      expect.objectContaining({ file: 'p.yaml', line: 10, path: 'programs[0].recurrence.evry' }),
      expect.objectContaining({ file: 'site.yaml', line: 3, column: 1, path: 'zone' }),
    ]);
    expect(errors[0]!.message).toContain('did you mean "every"?');
    expect(errors[1]!.message).toContain('did you mean "zones"?');
  });

  it('a bad time "25:00"', () => {
    const dir = folder({ 'site.yaml': SITE, 'zones.yaml': ZONES, 'programs.yaml': program({ at: '25:00' }) });
    expect(errorsOf(loadSiteFolder(dir))).toEqual([
      {
        file: 'programs.yaml',
        line: 8,
        column: 11,
        path: 'programs[0].recurrence.at',
        message: 'a local time HH:MM, 24-hour (found "25:00")',
      },
    ]);
  });

  it('an unknown weekday', () => {
    const dir = folder({
      'site.yaml': SITE,
      'zones.yaml': ZONES,
      'programs.yaml': program({ days: 'mo, sun' }),
    });
    expect(errorsOf(loadSiteFolder(dir))).toEqual([
      {
        file: 'programs.yaml',
        line: 7,
        column: 18,
        path: 'programs[0].recurrence.days[1]',
        message: 'must be one of: mo, tu, we, th, fr, sa, su (found "sun")',
      },
    ]);
  });

  it('the same program id in two files: the error names both', () => {
    const dir = folder({ 'site.yaml': SITE, 'zones.yaml': ZONES, 'a.yaml': program(), 'b.yaml': program() });
    expect(errorsOf(loadSiteFolder(dir))).toEqual([
      {
        file: 'b.yaml',
        line: 2,
        column: 9,
        path: 'programs[0].id',
        message: 'program id "chieu" is declared twice: here and in a.yaml:2',
      },
    ]);
  });

  it('a target naming a zone no file declares', () => {
    const dir = folder({
      'site.yaml': SITE,
      'zones.yaml': ZONES,
      'p.yaml': program({ zones: 'thon-01, thon-15' }),
    });
    const [e, ...rest] = errorsOf(loadSiteFolder(dir));
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ file: 'p.yaml', line: 4, path: 'programs[0].target.zones[1]' });
    expect(e!.message).toBe('zone "thon-15" is not declared in any file (declared zones: thon-01, thon-02)');
  });

  it('a receiver in an undeclared zone, quiet hours from = to, an unknown time zone', () => {
    const dir = folder({
      'site.yaml': 'site:\n  name: X\n  timeZone: Asia/Hanoi_City\n',
      'zones.yaml': `${ZONES}  - { id: rx-02, zone: thon-9 }\n`,
      'q.yaml':
        'zones:\n  - id: thon-03\n    name: Thôn 3\n    quietHours: [{ from: "21:00", to: "21:00" }]\n',
    });
    const errors = errorsOf(loadSiteFolder(dir));
    // per-file errors first: references are checked once every file is valid
    expect(errors.map((e) => [e.file, e.line, e.path])).toEqual([
      ['q.yaml', 4, 'zones[0].quietHours[0].to'],
      ['site.yaml', 3, 'site.timeZone'],
    ]);
    const fixed = folder({ 'site.yaml': SITE, 'zones.yaml': `${ZONES}  - { id: rx-02, zone: thon-9 }\n` });
    expect(errorsOf(loadSiteFolder(fixed))).toEqual([
      expect.objectContaining({ file: 'zones.yaml', line: 8, column: 24, path: 'receivers[1].zone' }),
    ]);
  });

  it('"site" twice, or nowhere', () => {
    const twice = errorsOf(loadSiteFolder(folder({ 'a.yaml': SITE, 'b.yaml': SITE })));
    expect(twice).toEqual([
      expect.objectContaining({
        file: 'b.yaml',
        line: 1,
        column: 1,
        path: 'site',
        message: expect.stringContaining('a.yaml:1'),
      }),
    ]);
    const none = errorsOf(loadSiteFolder(folder({ 'zones.yaml': ZONES })));
    expect(none).toEqual([expect.objectContaining({ file: '.', line: 0, path: 'site' })]);
  });

  it('JSON files: read like YAML, and a JSON syntax error has its line', () => {
    const json = JSON.stringify({ programs: [{ id: 'x', title: 'X', target: { all: true } }] }, null, 2);
    const errors = errorsOf(loadSiteFolder(folder({ 'site.yaml': SITE, 'p.json': json })));
    expect(errors.map((e) => [e.file, e.path])).toEqual([
      ['p.json', 'programs[0].recurrence'],
      ['p.json', 'programs[0].items'],
    ]);
    expect(errors[0]!.message).toBe('"recurrence" is missing (expected object)');
    expect(errors[0]!.line).toBe(3);
    const trailing = '{\n  "zones": [\n    { "id": "a", "name": "A" },\n  ]\n}\n';
    expect(errorsOf(loadSiteFolder(folder({ 'site.yaml': SITE, 'z.json': trailing })))).toEqual([
      expect.objectContaining({ file: 'z.json', line: 4, column: 3 }),
    ]);
  });

  it('bounds: an empty folder, a file too large, a missing folder', () => {
    expect(errorsOf(loadSiteFolder(folder({ 'README.md': '# not a site file' })))[0]!.message).toMatch(
      /no site files/,
    );
    const big = folder({ 'site.yaml': `${SITE}# ${'x'.repeat(2000)}\n` });
    expect(errorsOf(loadSiteFolder(big, { ...SITE_LIMITS, maxFileBytes: 1000 }))[0]).toMatchObject({
      file: 'site.yaml',
      message: expect.stringContaining('at most 1000'),
    });
    expect(errorsOf(loadSiteFolder(join(tmpdir(), 'loalang-no-such-folder')))[0]!.file).toBe('.');
  });
});

describe('which files are read', () => {
  it('the folder and its direct subfolders, in order; dot files and deeper folders are not', () => {
    const r = loadSiteFolder(
      folder({
        'site.yml': SITE,
        'zones.yaml': ZONES,
        'programs/chieu.yaml': program(),
        '.draft.yaml': 'this: is not read',
        'old/deeper/x.yaml': 'neither: is this',
      }),
    );
    expect(r.ok && r.files.map((f) => f.file)).toEqual(['programs/chieu.yaml', 'site.yml', 'zones.yaml']);
    expect(r.ok && r.origins.programs.chieu).toEqual({ file: 'programs/chieu.yaml', line: 2 });
  });
});

describe('npm run schedules -- check', () => {
  // `npm run schedules` is `tsx scripts/schedules.ts`. The first case goes through npx as a user
  // would; the others load tsx into node directly, which starts about a second sooner.
  const run = (args: string[], via: 'npx' | 'node' = 'node') =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const [cmd, pre] = via === 'npx' ? ['npx', ['tsx']] : [process.execPath, ['--import', 'tsx']];
      const child = spawn(cmd, [...pre, 'scripts/schedules.ts', ...args], { cwd: process.cwd() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  it('a valid folder: exit 0 and a summary with the next airings in local time', async () => {
    const r = await run(['check', 'schedules/huong-dao', '--now', NOW.toISOString()], 'npx');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Site: Xã Hướng Đạo (time zone Asia/Ho_Chi_Minh)');
    expect(r.stdout).toContain('Zones: 14');
    expect(r.stdout).toContain('  thon-14  Thôn 14  quiet 21:00–05:00  receivers: rx-thon-14');
    expect(r.stdout).toContain('Receivers: 14');
    expect(r.stdout).toContain('Programs: 3');
    expect(r.stdout).toContain('next: Fri 2026-12-04 05:00 +07:00  (2026-12-03T22:00:00Z)');
    expect(r.stdout).toContain('next: Thu 2026-12-03 17:00 +07:00  (2026-12-03T10:00:00Z)');
    expect(r.stdout).toMatch(/Digest: [0-9a-f]{64}/);
  }, 60_000);

  it('an invalid folder: exit 1 and "file:line:col  path: message" lines', async () => {
    const dir = folder({ 'site.yaml': SITE, 'zones.yaml': ZONES, 'programs.yaml': program({ at: '25:00' }) });
    const r = await run(['check', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid, 1 error — nothing would change');
    expect(r.stderr).toContain(
      'programs.yaml:8:11  programs[0].recurrence.at: a local time HH:MM, 24-hour (found "25:00")',
    );
  }, 60_000);

  it('usage errors: exit 2; preview lists the coming airings', async () => {
    const usage = await Promise.all([
      run([]),
      run(['chek', 'x']),
      run(['check']),
      run(['check', 'x', '--now', 'soon']),
    ]);
    for (const u of usage) {
      expect(u.code).toBe(2);
      expect(u.stderr).toContain('usage: npm run schedules');
    }
    const p = await run(['preview', 'schedules/huong-dao', '--days', '1', '--now', NOW.toISOString()]);
    expect(p.code).toBe(0);
    expect(p.stdout.split('\n').filter((l) => /^ {2}\d\d:\d\d/.test(l))).toEqual([
      '  17:00  chieu  Chương trình buổi chiều  (15 min 5 s + 2 audio files, all receivers)',
      '  05:00  sang  Chương trình buổi sáng  (30 min + 1 audio file, all receivers)',
    ]);
  }, 60_000);
});
