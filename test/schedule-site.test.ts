/**
 * The schedules folder applied by a real controller: the Hướng Đạo sample at start (zones,
 * receivers, quiet hours, programs with their next airings), file-owned programs refused by the
 * API with the file named, an invalid reload that changes nothing and says where, and a valid edit.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestController, type TestController } from './helpers/controller.js';

const SAMPLE = new URL('../schedules/huong-dao/', import.meta.url);

interface Program {
  id: string;
  title: string;
  source: string;
  sourceFile: string | null;
  next: { at: string; local: string; problems: string[] }[];
}

describe('the schedules folder on a controller', () => {
  let tc: TestController;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'loalang-site-'));
    cpSync(SAMPLE, dir, { recursive: true });
    tc = await startTestController({ SCHEDULES_DIR: dir, TZ: 'Asia/Ho_Chi_Minh' });
  });
  afterAll(async () => {
    await tc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads Hướng Đạo at start: 14 villages with quiet hours, 14 receivers, programs at 05:00 and 17:00', async () => {
    const zones = await tc.api<{ id: string }[] | { items: { id: string }[] }>('GET', '/api/zones');
    const zoneList = Array.isArray(zones.body) ? zones.body : zones.body.items;
    expect(zoneList.filter((z) => z.id.startsWith('thon-'))).toHaveLength(14);
    const quiet = tc.controller.db
      .prepare('SELECT count(*) AS n FROM zone_schedule WHERE quiet != ?')
      .get('[]') as {
      n: number;
    };
    expect(quiet.n).toBe(14);
    const programs = await tc.api<{ items: Program[]; timeZone: string }>('GET', '/api/programs');
    expect(programs.body.timeZone).toBe('Asia/Ho_Chi_Minh');
    const byId = new Map(programs.body.items.map((p) => [p.id, p]));
    expect(byId.get('sang')).toMatchObject({ source: 'file' });
    expect(byId.get('sang')!.sourceFile).toMatch(/^programs\.yaml:\d+$/);
    expect(byId.get('sang')!.next[0]!.local.slice(11)).toBe('05:00');
    expect(byId.get('sang')!.next[0]!.at.slice(11, 16)).toBe('22:00'); // UTC
    expect(byId.get('chieu')!.next[0]!.local.slice(11)).toBe('17:00');
    // No audio uploaded yet: each airing says so, and the relay still airs.
    expect(byId.get('sang')!.next[0]!.problems.join(' ')).toMatch(/Bản tin sáng/);
    const status = await tc.api<{
      digest: string;
      errors: unknown[];
      zones: { zoneId: string; quietHours: { from: string; to: string }[] }[];
    }>('GET', '/api/schedules');
    expect(status.body.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(status.body.errors).toEqual([]);
    expect(status.body.zones.find((z) => z.zoneId === 'thon-07')?.quietHours).toEqual([
      { from: '21:00', to: '05:00' },
    ]);
  });

  it('refuses to edit or delete a program the files own, naming the file', async () => {
    const p = (
      await tc.api<{ body: Record<string, unknown>; sourceFile: string }>('GET', '/api/programs/sang')
    ).body;
    const put = await tc.api<{ error: string; message: string }>('PUT', '/api/programs/sang', {
      ...p.body,
      title: 'x',
    });
    expect(put.status, JSON.stringify(put.body)).toBe(409);
    expect(put.body.error).toBe('program_from_file');
    expect(put.body.message).toContain(p.sourceFile);
    const del = await tc.api('DELETE', '/api/programs/sang');
    expect(del.status).toBe(409);
  });

  it('an invalid folder changes nothing and names the file, line and path; a valid edit applies', async () => {
    const file = join(dir, 'programs.yaml');
    const good = readFileSync(file, 'utf8');
    const before = (await tc.api<Program>('GET', '/api/programs/chieu')).body;
    writeFileSync(file, good.replace('days: [mo, tu, we, th, fr, sa]', 'days: [mo, tu, xx]'));
    const bad = await tc.api<{ error: string; errors: { file: string; line: number; path: string }[] }>(
      'POST',
      '/api/schedules/reload',
    );
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0]).toMatchObject({
      file: 'programs.yaml',
      path: expect.stringContaining('days[2]'),
    });
    expect(bad.body.errors[0]!.line).toBeGreaterThan(1);
    expect((await tc.api<Program>('GET', '/api/programs/chieu')).body.next).toEqual(before.next);

    writeFileSync(file, good.replace('title: Chương trình buổi chiều', 'title: Chương trình chiều'));
    const ok = await tc.api<{ status: string }>('POST', '/api/schedules/reload');
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('applied');
    expect((await tc.api<Program>('GET', '/api/programs/chieu')).body.title).toBe('Chương trình chiều');
    const again = await tc.api<{ status: string }>('POST', '/api/schedules/reload');
    expect(again.body.status).toBe('unchanged');
  });

  it('says when a program would start inside a village’s quiet hours (and an emergency would not be held)', async () => {
    const today = new Date(Date.now() + 7 * 3600_000).toISOString().slice(0, 10);
    const body = (id: string, priority: string, at = '22:30') => ({
      id,
      title: `Đêm ${id}`,
      priority,
      target: { zones: ['thon-03'] },
      recurrence: { kind: 'daily', at, from: today },
      items: [{ kind: 'pause', duration: 10 }],
    });
    expect((await tc.api('POST', '/api/programs', body('dem', 'normal'))).status).toBe(201);
    const night = (await tc.api<Program>('GET', '/api/programs/dem')).body;
    expect(night.next[0]!.problems).toEqual([
      'starts inside the quiet hours of thon-03: it will not air there',
    ]);
    expect((await tc.api('POST', '/api/programs', body('bao', 'emergency', '23:30'))).status).toBe(201);
    expect((await tc.api<Program>('GET', '/api/programs/bao')).body.next[0]!.problems).toEqual([]);
  });
});
