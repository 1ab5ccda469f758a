/**
 * Program recurrence (issue 8, first layer): weekdays, every N weeks, date ranges, exceptions,
 * single airings moved or cancelled, and a time zone with daylight saving (the stated policy).
 */
import { describe, expect, it } from 'vitest';
import { expand, recurrenceSchema } from '../src/domain/programs/recurrence.js';

const VN = 'Asia/Ho_Chi_Minh';
const win = (from: string, to: string) => [new Date(from), new Date(to)] as const;
const dates = (r: unknown, tz: string, from: string, to: string) =>
  expand(recurrenceSchema.parse(r), tz, ...win(from, to)).map((o) => o.date);

describe('recurrence', () => {
  it('airs Mon–Sat at 05:00 local (22:00 UTC the day before), never on Sunday', () => {
    const r = { kind: 'weekly', days: ['mo', 'tu', 'we', 'th', 'fr', 'sa'], at: '05:00', from: '2026-11-30' };
    const out = expand(recurrenceSchema.parse(r), VN, ...win('2026-11-29T00:00:00Z', '2026-12-07T00:00:00Z'));
    expect(out.map((o) => o.date)).toEqual([
      '2026-11-30',
      '2026-12-01',
      '2026-12-02',
      '2026-12-03',
      '2026-12-04',
      '2026-12-05',
      // 05:00 on Monday 7 December is 22:00 UTC on the 6th: inside the window
      '2026-12-07',
    ]);
    expect(out[0]).toEqual({
      date: '2026-11-30',
      local: '2026-11-30T05:00',
      instant: '2026-11-29T22:00:00Z',
    });
  });

  it('every 2 weeks on Mon, Wed, Fri, counted from the first week, until a date', () => {
    const r = {
      kind: 'weekly',
      days: ['mo', 'we', 'fr'],
      every: 2,
      at: '17:00',
      from: '2026-11-30',
      until: '2026-12-25',
    };
    expect(dates(r, VN, '2026-11-01T00:00:00Z', '2027-01-31T00:00:00Z')).toEqual([
      '2026-11-30',
      '2026-12-02',
      '2026-12-04',
      '2026-12-14',
      '2026-12-16',
      '2026-12-18',
    ]);
  });

  it('daily within a date range, with exception dates and a single airing moved or cancelled', () => {
    const r = {
      kind: 'daily',
      at: '17:00',
      from: '2026-12-01',
      until: '2026-12-06',
      except: ['2026-12-02'],
      moved: [
        { date: '2026-12-03', to: '2026-12-03T18:30' },
        { date: '2026-12-05', to: null },
      ],
    };
    const out = expand(recurrenceSchema.parse(r), VN, ...win('2026-11-01T00:00:00Z', '2027-01-01T00:00:00Z'));
    expect(out.map((o) => [o.date, o.local, o.adjusted ?? null])).toEqual([
      ['2026-12-01', '2026-12-01T17:00', null],
      ['2026-12-03', '2026-12-03T18:30', 'moved'],
      ['2026-12-04', '2026-12-04T17:00', null],
      ['2026-12-06', '2026-12-06T17:00', null],
    ]);
  });

  it('a one-off airs once', () => {
    expect(
      dates(
        { kind: 'once', at: '09:15', from: '2026-12-24' },
        VN,
        '2026-12-01T00:00:00Z',
        '2027-12-31T00:00:00Z',
      ),
    ).toEqual(['2026-12-24']);
  });

  it('keeps local time across daylight saving (America/New_York): a skipped time airs after the jump, a repeated one at the first', () => {
    const ny = 'America/New_York';
    const spring = expand(
      recurrenceSchema.parse({ kind: 'daily', at: '02:30', from: '2026-03-07', until: '2026-03-09' }),
      ny,
      ...win('2026-03-01T00:00:00Z', '2026-03-31T00:00:00Z'),
    );
    expect(spring.map((o) => [o.local, o.instant, o.adjusted ?? null])).toEqual([
      ['2026-03-07T02:30', '2026-03-07T07:30:00Z', null], // EST, UTC−5
      ['2026-03-08T02:30', '2026-03-08T07:30:00Z', 'gap'], // 02:30 does not exist: 03:30 EDT
      ['2026-03-09T02:30', '2026-03-09T06:30:00Z', null], // EDT, UTC−4
    ]);
    const fall = expand(
      recurrenceSchema.parse({ kind: 'daily', at: '01:30', from: '2026-10-31', until: '2026-11-02' }),
      ny,
      ...win('2026-10-01T00:00:00Z', '2026-11-30T00:00:00Z'),
    );
    expect(fall.map((o) => [o.instant, o.adjusted ?? null])).toEqual([
      ['2026-10-31T05:30:00Z', null],
      ['2026-11-01T05:30:00Z', 'repeated'], // the first 01:30 (EDT)
      ['2026-11-02T06:30:00Z', null],
    ]);
  });

  it('refuses what makes no sense, with the path of the problem', () => {
    const bad = [
      { kind: 'weekly', days: [], at: '05:00', from: '2026-12-01' },
      { kind: 'daily', at: '25:00', from: '2026-12-01' },
      { kind: 'daily', at: '05:00', from: '2026-12-10', until: '2026-12-01' },
      { kind: 'monthly', at: '05:00', from: '2026-12-01' },
    ];
    const paths = bad.map((b) => recurrenceSchema.safeParse(b).error?.issues[0]?.path.join('.'));
    expect(paths).toEqual(['days', 'at', 'until', 'kind']);
  });
});
