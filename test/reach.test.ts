/** The reach report's words for each delivery state (src/domain/announcements/reach.ts). */
import { describe, expect, it } from 'vitest';
import { buildReach, reachOf } from '../src/domain/announcements/reach.js';

describe('reach report', () => {
  it.each([
    ['done', false, 'heard'],
    ['playing', false, 'playing'],
    ['playing', true, 'playing'],
    ['queued', false, 'not_yet'],
    ['sent', false, 'not_yet'],
    ['downloading', false, 'not_yet'],
    ['ready', false, 'not_yet'],
    ['interrupted', false, 'not_yet'],
    ['interrupted', true, 'heard'],
    ['stopping', false, 'not_yet'],
    ['stopping', true, 'heard'],
    ['failed', false, 'failed'],
    ['expired', false, 'failed'],
    ['preempted', false, 'failed'],
    ['preempted', true, 'heard'],
    ['cancelled', false, 'failed'],
    ['cancelled', true, 'heard'],
  ])('%s (a play finished: %s) → %s', (state, played, reach) => {
    expect(reachOf(state, played)).toBe(reach);
  });

  it('groups receivers by village, counts a first play cut short as not heard, and is complete only when all have an outcome', () => {
    const d = (receiverId: string, zoneId: string, state: string, play: number | null) => ({
      receiverId,
      state,
      reason: state === 'failed' ? 'download_failed' : null,
      detail: null,
      play,
      updatedAt: '2026-12-03T00:00:00.000Z',
      receiverName: null,
      zoneId,
    });
    const names = new Map([
      ['z1', 'Thôn Hạ'],
      ['z2', 'Thôn Đông'],
    ]);
    const report = buildReach(
      [
        d('a', 'z1', 'done', 2),
        d('b', 'z1', 'interrupted', 1),
        d('c', 'z2', 'failed', null),
        d('e', 'z2', 'interrupted', 2),
      ],
      names,
      (id) => id !== 'c',
    );
    expect(report.counts).toEqual({ total: 4, heard: 2, playing: 0, not_yet: 1, failed: 1 });
    expect(report.villages.map((v) => [v.name, v.counts.heard, v.counts.total])).toEqual([
      ['Thôn Đông', 1, 2],
      ['Thôn Hạ', 1, 2],
    ]);
    expect(report.villages[0]?.receivers.find((r) => r.id === 'c')).toMatchObject({
      online: false,
      reason: 'download_failed',
    });
    expect(report.complete).toBe(false);
    expect(
      buildReach([d('a', 'z1', 'done', 1), d('c', 'z2', 'failed', null)], names, () => true).complete,
    ).toBe(true);
  });
});
