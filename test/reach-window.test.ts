/**
 * The second step for a bulletin to every village looks at what one officer reached within
 * CONFIRM_WINDOW_S, not at one request: a stolen phone cannot sound every horn a few villages at
 * a time. CONFIRM_PRIORITIES says which priorities count. Real controller, HTTP and SQLite.
 */
import { describe, expect, it } from 'vitest';
import { toneWav } from '../scripts/wav.js';
import type { TestController } from './helpers/controller.js';
import { addOfficer, controllersPerTest } from './helpers/officers.js';

const PIN = '246810';
const start = controllersPerTest();

/** A controller with three villages (z1, z2, z3), one registered receiver each, and one clip. */
async function commune(env: Record<string, string> = {}): Promise<{ tc: TestController; audioId: string }> {
  const tc = await start(env);
  for (const n of [1, 2, 3]) {
    expect((await tc.api('POST', '/api/zones', { id: `z${n}`, name: `Thôn ${n}` })).status).toBe(201);
    expect((await tc.api('POST', '/api/receivers', { id: `rx-${n}`, zoneId: `z${n}` })).status).toBe(201);
  }
  const up = await tc.upload(toneWav(200), 'canh-bao.wav');
  expect(up.status).toBe(201);
  return { tc, audioId: up.audio.id };
}

/** An operator with a PIN; returns their session token. */
const operator = (tc: TestController, username: string) =>
  addOfficer(tc, username, ['operator'], { pin: PIN });

const bulletinCount = async (tc: TestController) =>
  (await tc.api<{ total: number }>('GET', '/api/bulletins')).body.total;

describe('the second step counts what one officer reached within the window', () => {
  it('an emergency to z2 and z3, then one to z1 seconds later: the second needs the PIN', async () => {
    const { tc, audioId } = await commune();
    const first = await operator(tc, 'truc-1');
    const send = (zones: string[], token: string, extra: object = {}) =>
      tc.api<{ error: string; message: string }>(
        'POST',
        '/api/bulletins',
        { audioId, priority: 'emergency', target: { zones }, ...extra },
        token,
      );
    expect((await send(['z2', 'z3'], first)).status).toBe(201);
    const rest = await send(['z1'], first);
    expect(rest.status).toBe(428);
    expect(rest.body.error).toBe('confirmation_required');
    expect(rest.body.message).toContain('15 minutes');
    expect(await bulletinCount(tc)).toBe(1);
    // A wrong PIN files nothing either; the right one sends it.
    expect((await send(['z1'], first, { confirm: { pin: '000000' } })).status).toBe(403);
    expect(await bulletinCount(tc)).toBe(1);
    expect((await send(['z1'], first, { confirm: { pin: PIN } })).status).toBe(201);
    expect(await bulletinCount(tc)).toBe(2);

    // Another officer's reach is their own: one village needs no PIN from them.
    const second = await operator(tc, 'truc-2');
    expect((await send(['z1'], second)).status).toBe(201);
    // A normal bulletin does not count and needs none.
    const normal = await tc.api(
      'POST',
      '/api/bulletins',
      { audioId, priority: 'normal', target: { all: true } },
      first,
    );
    expect(normal.status).toBe(201);
  });

  it('two emergencies sent at the same moment cannot both slip under the rule', async () => {
    const { tc, audioId } = await commune();
    const token = await operator(tc, 'truc-1');
    const send = (zones: string[]) =>
      tc.api('POST', '/api/bulletins', { audioId, priority: 'emergency', target: { zones } }, token);
    const statuses = (await Promise.all([send(['z1', 'z2']), send(['z3'])])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 428]);
    expect(await bulletinCount(tc)).toBe(1);
  });

  it('a priority bulletin to every village needs the PIN too (by default)', async () => {
    const { tc, audioId } = await commune();
    const token = await operator(tc, 'truc-1');
    const body = { audioId, priority: 'priority', target: { all: true } };
    const bare = await tc.api<{ error: string }>('POST', '/api/bulletins', body, token);
    expect(bare).toMatchObject({ status: 428, body: { error: 'confirmation_required' } });
    expect(await bulletinCount(tc)).toBe(0);
    expect((await tc.api('POST', '/api/bulletins', { ...body, confirm: { pin: PIN } }, token)).status).toBe(
      201,
    );
  });

  it('CONFIRM_PRIORITIES chooses which priorities count; CONFIRM_WINDOW_S=0 looks at one request only', async () => {
    const { tc, audioId } = await commune({ CONFIRM_PRIORITIES: 'emergency' });
    const token = await operator(tc, 'truc-1');
    const send = (priority: string, target: object) =>
      tc.api('POST', '/api/bulletins', { audioId, priority, target }, token);
    expect((await send('priority', { all: true })).status).toBe(201);
    expect((await send('emergency', { all: true })).status).toBe(428);
    // Only emergencies add up: the priority bulletin to every village above does not.
    expect((await send('emergency', { zones: ['z2', 'z3'] })).status).toBe(201);
    expect((await send('priority', { zones: ['z1'] })).status).toBe(201);
    expect((await send('emergency', { zones: ['z1'] })).status).toBe(428);

    const off = await commune({ CONFIRM_WINDOW_S: '0' });
    const other = await operator(off.tc, 'truc-1');
    const sendOff = (zones: string[]) =>
      off.tc.api(
        'POST',
        '/api/bulletins',
        { audioId: off.audioId, priority: 'emergency', target: { zones } },
        other,
      );
    expect((await sendOff(['z2', 'z3'])).status).toBe(201);
    expect((await sendOff(['z1'])).status).toBe(201);
  });

  it('in second-officer mode, the request that completes the reach waits for another officer', async () => {
    const { tc, audioId } = await commune({ EMERGENCY_ALL_CONFIRM: 'second-officer' });
    const first = await operator(tc, 'truc-1');
    const second = await operator(tc, 'truc-2');
    const send = (zones: string[]) =>
      tc.api<{ approval?: { id: string; reason: string } }>(
        'POST',
        '/api/bulletins',
        { audioId, priority: 'emergency', target: { zones } },
        first,
      );
    expect((await send(['z1', 'z2'])).status).toBe(201);
    const filed = await send(['z3']);
    expect(filed.status).toBe(202);
    expect(filed.body.approval?.reason).toBe('emergency_all');
    expect(await bulletinCount(tc)).toBe(1);
    const id = filed.body.approval!.id;
    expect((await tc.api('POST', `/api/approvals/${id}/approve`, {}, second)).status).toBe(200);
    expect(await bulletinCount(tc)).toBe(2);
  });
});
