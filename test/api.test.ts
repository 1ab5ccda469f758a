/** HTTP API over a real controller (embedded broker, SQLite in a temp dir): auth, zones, receivers, bad input. */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/contract/mqtt.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

let tc: TestController;
beforeAll(async () => {
  // The raw MQTT clients below connect as unknown devices, which discovery lets in as pending.
  tc = await startTestController({ MQTT_DISCOVERY: 'true' });
});
afterAll(async () => {
  await tc?.stop();
});

const countIn = (c: TestController, table: string) =>
  (c.controller.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const count = (table: string) => countIn(tc, table);

describe('auth', () => {
  it('serves health without a token', async () => {
    const res = await tc.api<{ status: string; mqtt: string }>('GET', '/api/health', undefined, null);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', mqtt: 'connected' });
  });

  it('refuses state-changing and reading endpoints without a valid token', async () => {
    const none = await tc.api<{ error: string; message: string }>('POST', '/api/zones', { name: 'X' }, null);
    expect(none.status).toBe(401);
    expect(none.body.message).toMatch(/Log in/);
    const bad = await tc.api('GET', '/api/receivers', undefined, 'not-a-token');
    expect(bad.status).toBe(401);
    expect(count('zones')).toBe(0);
  });

  it('refuses a wrong password and logs in with the right one', async () => {
    const wrong = await tc.api<{ error: string }>(
      'POST',
      '/api/auth/login',
      { username: 'admin', password: 'nope' },
      null,
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('bad_credentials');
    const me = await tc.api<{ username: string; role: string }>('GET', '/api/auth/me');
    expect(me.body).toMatchObject({ username: 'admin', roles: ['admin'] });
  });

  it('publishes the command-signing public key and the OpenAPI document', async () => {
    const key = await tc.api<{ algorithm: string; publicKeyPem: string }>(
      'GET',
      '/api/system/signing-key',
      undefined,
      null,
    );
    expect(key.body.algorithm).toBe('Ed25519');
    expect(key.body.publicKeyPem).toMatch(/BEGIN PUBLIC KEY/);
    const doc = await tc.api<{ paths: Record<string, unknown> }>('GET', '/docs/json', undefined, null);
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/bulletins',
        '/api/zones',
        '/api/receivers',
        '/api/audio',
        '/api/health',
        '/api/stop',
        '/api/stops',
        '/api/stops/{id}',
        '/api/stops/{id}/progress',
      ]),
    );
  });
});

describe('zones and receivers', () => {
  it('creates a zone with an id made from its Vietnamese name', async () => {
    const res = await tc.api<{ id: string; name: string }>('POST', '/api/zones', { name: 'Thôn Đồng Bùa' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: 'thon-dong-bua', name: 'Thôn Đồng Bùa' });
    const dup = await tc.api<{ error: string }>('POST', '/api/zones', { name: 'Thôn Đồng Bùa' });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toBe('zone_exists');
  });

  it('rejects wrong types and unknown ids with a clear 4xx and no change', async () => {
    const before = { zones: count('zones'), receivers: count('receivers') };
    const wrongType = await tc.api<{ error: string; message: string }>('POST', '/api/zones', { name: 5 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.message).toMatch(/name/);
    const badId = await tc.api<{ message: string }>('POST', '/api/zones', { id: 'a/b#', name: 'x' });
    expect(badId.status).toBe(400);
    const notJson = await tc.api('POST', '/api/zones', '{not json');
    expect(notJson.status).toBe(400);
    const unknownZone = await tc.api<{ error: string; message: string }>('POST', '/api/receivers', {
      id: 'rx-1',
      zoneId: 'nowhere',
    });
    expect(unknownZone.status).toBe(404);
    expect(unknownZone.body.message).toContain('nowhere');
    const unknownReceiver = await tc.api('GET', '/api/receivers/nobody');
    expect(unknownReceiver.status).toBe(404);
    expect({ zones: count('zones'), receivers: count('receivers') }).toEqual(before);
  });

  it('registers, moves and deletes a receiver; a zone with receivers cannot be deleted', async () => {
    await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
    const created = await tc.api<{ adoption: string; zoneId: string }>('POST', '/api/receivers', {
      id: 'rx-a',
      zoneId: 'thon-dong-bua',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ adoption: 'adopted', zoneId: 'thon-dong-bua' });
    const blocked = await tc.api<{ error: string }>('DELETE', '/api/zones/thon-dong-bua');
    expect(blocked.status).toBe(409);
    const moved = await tc.api<{ zoneId: string }>('PATCH', '/api/receivers/rx-a', {
      zoneId: 'thon-2',
      volume: 55,
    });
    expect(moved.body.zoneId).toBe('thon-2');
    expect(tc.controller.db.prepare(`SELECT zone_id, volume FROM receivers WHERE id = 'rx-a'`).get()).toEqual(
      {
        zone_id: 'thon-2',
        volume: 55,
      },
    );
    expect((await tc.api('DELETE', '/api/receivers/rx-a')).status).toBe(204);
    expect((await tc.api('DELETE', '/api/zones/thon-2')).status).toBe(204);
    // Every change is in the audit log, with who made it; refused ones are not.
    const audit = await tc.api<{ items: { username: string; action: string; subject: string | null }[] }>(
      'GET',
      '/api/audit',
    );
    expect(audit.body.items.slice(0, 4).map((e) => [e.username, e.action, e.subject])).toEqual([
      ['admin', 'DELETE /api/zones/:id', 'thon-2'],
      ['admin', 'DELETE /api/receivers/:id', 'rx-a'],
      ['admin', 'PATCH /api/receivers/:id', 'rx-a'],
      ['admin', 'POST /api/receivers', null],
    ]);
  });
});

function untrustedPayloads(ctl: () => TestController) {
  const t = topics();
  async function connectAs(id: string) {
    return mqtt.connectAsync(ctl().mqttUrl, { clientId: id, protocolVersion: 4, reconnectPeriod: 0 });
  }
  const status = (session: number, state: 'online' | 'offline') =>
    JSON.stringify({ v: 1, state, session, ts: new Date().toISOString(), firmware: 'test/1' });

  it('shows an unknown receiver as pending, and ignores a late offline from an earlier session', async () => {
    const c = await connectAs('rx-unknown');
    await c.publishAsync(t.receiverStatus('rx-unknown'), status(7, 'online'), { qos: 1, retain: true });
    const r = await waitFor('pending receiver', async () => {
      const res = await ctl().api<{ adoption: string; online: boolean; session: number }>(
        'GET',
        '/api/receivers/rx-unknown',
      );
      return res.status === 200 && res.body.online ? res.body : null;
    });
    expect(r).toMatchObject({ adoption: 'pending', online: true, session: 7 });
    // The last will of the previous connection (session 6) arrives late: it must not win.
    await c.publishAsync(t.receiverStatus('rx-unknown'), status(6, 'offline'), { qos: 1, retain: true });
    // Then a marker in the same session proves the late one was processed before it.
    await c.publishAsync(
      t.receiverStatus('rx-unknown'),
      JSON.stringify({ ...JSON.parse(status(7, 'online')), volume: 42 }),
      {
        qos: 1,
        retain: true,
      },
    );
    const after = await waitFor('marker status', async () => {
      const res = await ctl().api<{ online: boolean; volume: number | null; session: number }>(
        'GET',
        '/api/receivers/rx-unknown',
      );
      return res.body.volume === 42 ? res.body : null;
    });
    expect(after).toMatchObject({ online: true, session: 7 });
    // The offline of the current session does count (on the embedded broker, which sees the
    // connection itself, once the connection has ended: a live connection outranks it).
    await c.publishAsync(t.receiverStatus('rx-unknown'), status(7, 'offline'), { qos: 1, retain: true });
    await c.endAsync();
    await waitFor(
      'offline',
      async () => !(await ctl().api<{ online: boolean }>('GET', '/api/receivers/rx-unknown')).body.online,
    );
  });

  it('logs and ignores malformed, oversized and out-of-contract payloads and keeps running', async () => {
    const before = { receivers: countIn(ctl(), 'receivers'), log: countIn(ctl(), 'delivery_log') };
    const c = await connectAs('rx-evil');
    const junk: (string | Buffer)[] = [
      'not json',
      '{"v":1}',
      JSON.stringify({ v: 2, state: 'online', session: 1, ts: new Date().toISOString() }),
      JSON.stringify({ v: 1, state: 'exploded', session: -1, ts: 'yesterday' }),
      Buffer.alloc(20_000, 0x7b),
      Buffer.from([0xff, 0xfe, 0x00]),
    ];
    for (const p of junk) {
      await c.publishAsync(t.receiverStatus('rx-evil'), p, { qos: 1 });
      await c.publishAsync(t.receiverEvent('rx-evil'), p, { qos: 1 });
    }
    await c.publishAsync(
      t.receiverEvent('rx-evil'),
      JSON.stringify({
        v: 1,
        commandId: 'no-such-command',
        state: 'finished',
        session: 1,
        ts: new Date().toISOString(),
      }),
      { qos: 1 },
    );
    // A valid status after the junk proves the controller processed all of it and is alive.
    await c.publishAsync(t.receiverStatus('rx-evil'), status(1, 'online'), { qos: 1 });
    await waitFor(
      'valid status after junk',
      async () => (await ctl().api('GET', '/api/receivers/rx-evil')).status === 200,
    );
    expect(countIn(ctl(), 'receivers')).toBe(before.receivers + 1);
    expect(countIn(ctl(), 'delivery_log')).toBe(before.log);
    const health = await ctl().api<{ status: string }>('GET', '/api/health', undefined, null);
    expect(health.body.status).toBe('ok');
    await c.endAsync();
  });
}

describe('receiver payloads are untrusted (embedded broker)', () => {
  untrustedPayloads(() => tc);
  const t = topics();
  const status = (session: number, state: 'online' | 'offline') =>
    JSON.stringify({ v: 1, state, session, ts: new Date().toISOString(), firmware: 'test/1' });
  const connectAs = (id: string) =>
    mqtt.connectAsync(tc.mqttUrl, { clientId: id, protocolVersion: 4, reconnectPeriod: 0 });

  it('does not let a receiver publish commands or another receiver’s status', async () => {
    const c = await connectAs('rx-spoof');
    // aedes drops the connection on an unauthorized publish; either way nothing reaches the controller.
    await c.publishAsync(t.receiverStatus('rx-victim'), status(1, 'online'), { qos: 0 }).catch(() => {});
    const probe = await connectAs('rx-probe');
    await probe.publishAsync(t.receiverStatus('rx-probe'), status(1, 'online'), { qos: 1 });
    await waitFor('probe', async () => (await tc.api('GET', '/api/receivers/rx-probe')).status === 200);
    expect((await tc.api('GET', '/api/receivers/rx-victim')).status).toBe(404);
    await c.endAsync(true);
    await probe.endAsync();
  });
});

describe.skipIf(!mosquittoAvailable())('receiver payloads are untrusted (Mosquitto)', () => {
  let m: MosquittoHandle;
  let mtc: TestController;
  beforeAll(async () => {
    m = await startMosquitto();
    mtc = await startTestController({ MQTT_URL: m.url });
  });
  afterAll(async () => {
    await mtc?.stop();
    await m?.stop();
  });
  untrustedPayloads(() => mtc);
});

describe('stops: bad input', () => {
  it('refuses an empty or unknown scope with 400, records nothing, and answers 404 for an unknown stop', async () => {
    const before = countIn(tc, 'stops');
    const empty = await tc.api<{ error: string }>('POST', '/api/stop', {});
    expect(empty).toMatchObject({ status: 400, body: { error: 'empty_target' } });
    const unknown = await tc.api<{ error: string; message: string }>('POST', '/api/stop', {
      zones: ['no-such-zone'],
    });
    expect(unknown).toMatchObject({ status: 400, body: { error: 'unknown_zone' } });
    expect(unknown.body.message).toContain('no-such-zone');
    const badZone = await tc.api('POST', '/api/stop', { zones: ['a/b'] });
    expect(badZone.status).toBe(400);
    expect(countIn(tc, 'stops')).toBe(before);
    expect((await tc.api('GET', '/api/stops/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await tc.api('GET', '/api/stops/00000000-0000-0000-0000-000000000000/progress')).status).toBe(
      404,
    );
  });
});
