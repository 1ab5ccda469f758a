/**
 * The conformance kit (issue 11): the reference simulator passes every case on the embedded broker
 * (on Mosquitto: conformance-mosquitto.test.ts; each case against a simulator that breaks it:
 * conformance-broken-*.test.ts); the command line writes its reports and exits 0/1/2; the HTML
 * report escapes what a receiver said.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SIM_BREAK_NAMES } from '../firmware-sim/breaks.js';
import { ALL_CASES } from '../src/conformance/cases/index.js';
import { runConformance } from '../src/conformance/kit.js';
import { simLauncher } from '../src/conformance/launchers.js';
import { htmlReport } from '../src/conformance/report.js';
import type { ConformanceReport } from '../src/conformance/types.js';

const failures = (r: ConformanceReport) =>
  r.results.filter((c) => c.outcome !== 'pass').map((c) => `${c.id}: ${c.outcome} ${c.reason ?? ''}`);

describe('conformance kit', () => {
  it('firmware-sim passes every case on the embedded broker', async () => {
    const report = await runConformance({ receiverId: 'cf-sim-01', launcher: simLauncher() });
    expect(failures(report)).toEqual([]);
    expect(report.results.map((r) => r.id)).toEqual(ALL_CASES.map((c) => c.id));
    expect(report.summary.conformant).toBe(true);
    expect(report.receiver.firmware).toMatch(/loalang-sim/);
    // Every case left evidence of what it sent and saw.
    for (const r of report.results) expect(r.evidence.length, r.id).toBeGreaterThan(0);
  }, 400_000);

  it('docs/protocol.md §15 lists every case with its clause and level, and nothing else', () => {
    const doc = readFileSync('docs/protocol.md', 'utf8');
    const table = doc.slice(doc.indexOf('## 15. Conformance'));
    const rows = [...table.matchAll(/^\| `([^`]+)` \| (.+?) \| (MUST|SHOULD) \|/gm)].map((m) => [
      m[1],
      m[2],
      m[3],
    ]);
    expect(rows).toEqual(ALL_CASES.map((c) => [c.id, c.section, c.level]));
  });

  it('every case names a violation of the simulator that exists', () => {
    for (const c of ALL_CASES) expect(SIM_BREAK_NAMES, c.id).toContain(c.failsWith);
    expect(new Set(ALL_CASES.map((c) => c.id)).size).toBe(ALL_CASES.length);
  });
});

describe('conformance command line', () => {
  const out = mkdtempSync(join(tmpdir(), 'loalang-cf-cli-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/conformance/cli.ts', ...args], {
      encoding: 'utf8',
      timeout: 120_000,
    });

  it('writes the JSON and HTML reports and exits 0 for a conformant run, 1 for a failing one', () => {
    const ok = cli(['--receiver', 'cf-cli-01', '--sim', '--only', 'verify.unsigned', '--out', out]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/PASS\s+MUST\s+§7\.1 step 3\s+verify\.unsigned/);
    const json = JSON.parse(
      readFileSync(join(out, 'conformance-cf-cli-01.json'), 'utf8'),
    ) as ConformanceReport;
    expect(json.results.map((r) => [r.id, r.outcome])).toEqual([['verify.unsigned', 'pass']]);
    expect(readFileSync(join(out, 'conformance-cf-cli-01.html'), 'utf8')).toContain('CONFORMANT');

    const bad = cli([
      '--receiver',
      'cf-cli-02',
      '--sim',
      '--break',
      'accept-unsigned',
      '--only',
      'verify.unsigned',
      '--out',
      out,
    ]);
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout).toContain('NOT CONFORMANT');
    expect(existsSync(join(out, 'conformance-cf-cli-02.html'))).toBe(true);
  }, 400_000);

  it('certifies a receiver in another process (--launch), restarts it, and leaves no process behind', () => {
    // The simulator's own command line, given the bundle's path: a vendor's receiver as the kit sees one.
    const launch = `${process.execPath} --import tsx firmware-sim/cli.ts --provisioning {bundle}`;
    const only = 'connect.status,play.basic,link.reconnect,reboot.session';
    const r = cli(['--receiver', 'cf-cli-03', '--launch', launch, '--only', only, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/PASS\s+MUST\s+§5 \(session\); §2 step 1\s+reboot\.session/);
    expect(r.stderr).toMatch(/launching: .*--provisioning \/\S+cf-cli-03\.bundle\.json/);
    const left = spawnSync('pgrep', ['-f', 'cf-cli-03.bundle.json'], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  }, 120_000);

  it('refuses bad usage with exit 2 and says why', () => {
    const refusals: [string[], string][] = [
      [['--sim'], '--receiver <id> is required'],
      [['--receiver', 'x1', '--sim', '--break', 'nonsense'], '--break nonsense: not one of'],
      [['--receiver', 'x1', '--sim', '--only', 'no.such.case'], 'no such case: no.such.case'],
      [
        ['--receiver', 'x1', '--sim', '--broker', 'mqtts://broker.example:8883'],
        'needs a broker listener without TLS (mqtt://host:port)',
      ],
      [
        ['--receiver', 'x1', '--sim', '--broker', 'emqx'],
        '--broker must be embedded, mosquitto or mqtt://host:port, not emqx',
      ],
    ];
    for (const [args, why] of refusals) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(why);
    }
  }, 120_000);
});

describe('conformance report', () => {
  it('escapes what the receiver said in the HTML page', () => {
    const html = htmlReport({
      kit: { version: '1', protocol: 'p' },
      receiver: { id: 'rx-1', firmware: '<script>alert(1)</script>', codecs: null },
      broker: 'embedded',
      startedAt: '2026-12-03T00:00:00.000Z',
      finishedAt: '2026-12-03T00:00:01.000Z',
      results: [
        {
          id: 'a.b',
          section: '§1',
          level: 'MUST',
          title: 't',
          outcome: 'fail',
          reason: 'saw <b>"x"</b>',
          durationMs: 1,
          evidence: [{ atMs: 0, kind: 'saw', text: '<img src=x onerror=alert(1)>' }],
        },
      ],
      summary: {
        must: { pass: 0, fail: 1, skip: 0 },
        should: { pass: 0, fail: 0, skip: 0 },
        conformant: false,
      },
    });
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('NOT CONFORMANT');
    expect(html).toContain('KHÔNG ĐẠT');
  });
});
