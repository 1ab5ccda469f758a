/**
 * The EMQX 5 HTTP authentication and authorization endpoints (POST /api/mqtt/emqx/authn and
 * /authz): the shared secret, the answers EMQX expects, loalang's access rules, revocation.
 * Run against a real controller through `inject`; not against a real EMQX (none here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../src/contract/mqtt.js';
import { startTestController, type TestController } from './helpers/controller.js';

const t = topics();
const SECRET = 'emqx-shared-secret-0123456789';
const CTRL = 'loalang-ctl';
const CTRL_PASSWORD = 'controller-password-123';

describe('EMQX HTTP auth endpoints', () => {
  let tc: TestController;
  let off: TestController;
  const pw: Record<string, string> = {};

  beforeAll(async () => {
    tc = await startTestController({
      MQTT_HTTP_AUTH_SECRET: SECRET,
      MQTT_USERNAME: CTRL,
      MQTT_PASSWORD: CTRL_PASSWORD,
      MQTT_CLIENT_ID: 'loalang-ctl-1',
    });
    off = await startTestController();
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
    for (const [id, zoneId] of [
      ['rx-a', 'thon-1'],
      ['rx-b', 'thon-2'],
    ] as const) {
      const res = await tc.api<{ provisioning: { mqtt: { password: string } } }>('POST', '/api/receivers', {
        id,
        zoneId,
      });
      expect(res.status).toBe(201);
      pw[id] = res.body.provisioning.mqtt.password;
    }
  });
  afterAll(async () => {
    await tc?.stop();
    await off?.stop();
  });

  const call = async (
    which: 'authn' | 'authz',
    body: unknown,
    secret: string | null = SECRET,
    on: TestController = tc,
  ) => {
    const res = await on.controller.app.inject({
      method: 'POST',
      url: `/api/mqtt/emqx/${which}`,
      headers: {
        'content-type': 'application/json',
        ...(secret !== null ? { 'x-loalang-secret': secret } : {}),
      },
      payload: JSON.stringify(body),
    });
    return {
      status: res.statusCode,
      body: res.json() as { result?: string; is_superuser?: boolean; message?: string },
    };
  };
  const authn = (clientid: string, username: string, password: string) =>
    call('authn', { clientid, username, password, peerhost: '10.0.0.7' });
  const authz = (username: string, action: 'publish' | 'subscribe', topic: string, clientid = username) =>
    call('authz', { clientid, username, topic, action, qos: '1', retain: 'false' });

  it('is off (404) without MQTT_HTTP_AUTH_SECRET, and needs the secret (401) when on', async () => {
    const body = { clientid: 'rx-a', username: 'rx-a', password: 'x' };
    expect((await call('authn', body, SECRET, off)).status).toBe(404);
    expect((await call('authz', { ...body, topic: 'a', action: 'publish' }, SECRET, off)).status).toBe(404);
    const missing = await call('authn', body, null);
    expect(missing.status).toBe(401);
    expect(missing.body.message).toMatch(/x-loalang-secret/);
    expect((await call('authn', body, 'wrong')).status).toBe(401);
    expect((await call('authz', { ...body, topic: 'a', action: 'publish' }, `${SECRET}x`)).status).toBe(401);
    // No login needed: a bearer token alone is not the secret.
    const res = await tc.controller.app.inject({
      method: 'POST',
      url: '/api/mqtt/emqx/authn',
      headers: { authorization: `Bearer ${tc.token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
    expect(res.statusCode).toBe(401);
  });

  it('rejects a malformed body with 400 and a message', async () => {
    const r1 = await call('authn', { clientid: 'rx-a', username: 'rx-a' });
    expect(r1.status).toBe(400);
    expect(r1.body.message).toMatch(/password/);
    const r2 = await call('authz', { clientid: 'rx-a', username: 'rx-a', topic: 'x', action: 'all' });
    expect(r2.status).toBe(400);
    expect(r2.body.message).toMatch(/action/);
    const r3 = await call('authz', {
      clientid: 'rx-a',
      username: 'rx-a',
      topic: 'x',
      action: 'publish',
      qos: '7',
    });
    expect(r3.status).toBe(400);
  });

  it('authenticates the controller and receivers, never as superuser; denies anything else', async () => {
    expect((await authn('loalang-ctl-1', CTRL, CTRL_PASSWORD)).body).toEqual({
      result: 'allow',
      is_superuser: false,
      acl: [{ permission: 'allow', action: 'all', topic: `${t.root}/#` }],
    });
    expect((await authn('loalang-ctl-1', CTRL, 'wrong')).body.result).toBe('deny');
    expect((await authn('other-id', CTRL, CTRL_PASSWORD)).body.result).toBe('deny');
    expect((await authn('rx-a', 'rx-a', pw['rx-a']!)).body).toEqual({ result: 'allow', is_superuser: false });
    expect((await authn('rx-a', 'rx-a', pw['rx-b']!)).body.result).toBe('deny');
    expect((await authn('rx-a', 'rx-a', 'guess')).body.result).toBe('deny');
    // A's credentials under B's client id: EMQX would let it take over B's session
    expect((await authn('rx-b', 'rx-a', pw['rx-a']!)).body.result).toBe('deny');
    expect((await authn('rx-x', 'rx-x', 'x')).body.result).toBe('deny');
    expect((await authn('anon', '', '')).body).toEqual({ result: 'deny', is_superuser: false });
  });

  it('authorizes by loalang’s rules: A on its own topics, never on B’s; the controller everywhere', async () => {
    const allow = async (u: string, a: 'publish' | 'subscribe', topic: string, clientid?: string) =>
      (await authz(u, a, topic, clientid)).body.result;
    // A: its own command and config, its zone, all; publishes its own status and events
    for (const topic of [
      t.receiverCommand('rx-a'),
      t.receiverConfig('rx-a'),
      t.zoneCommand('thon-1'),
      t.allCommand(),
    ]) {
      expect(await allow('rx-a', 'subscribe', topic), topic).toBe('allow');
    }
    for (const topic of [t.receiverStatus('rx-a'), t.receiverEvent('rx-a')]) {
      expect(await allow('rx-a', 'publish', topic), topic).toBe('allow');
    }
    // ... and nothing of B's, no other zone, no wildcard, no command
    for (const topic of [
      t.receiverCommand('rx-b'),
      t.receiverConfig('rx-b'),
      t.zoneCommand('thon-2'),
      `${t.root}/rx/+/cmd`,
      `${t.root}/#`,
      '#',
      t.receiverStatus('rx-b'),
      `$share/g/${t.receiverCommand('rx-a')}`,
    ]) {
      expect(await allow('rx-a', 'subscribe', topic), topic).toBe('deny');
    }
    for (const topic of [
      t.receiverStatus('rx-b'),
      t.receiverEvent('rx-b'),
      t.receiverCommand('rx-a'),
      t.zoneCommand('thon-1'),
      t.allCommand(),
      t.receiverConfig('rx-a'),
    ]) {
      expect(await allow('rx-a', 'publish', topic), topic).toBe('deny');
    }
    // A's username under another client id gets nothing
    expect(await allow('rx-a', 'subscribe', t.receiverCommand('rx-a'), 'rx-b')).toBe('deny');
    // the controller
    expect(await allow(CTRL, 'subscribe', t.statusWildcard(), 'loalang-ctl-1')).toBe('allow');
    expect(await allow(CTRL, 'publish', t.zoneCommand('thon-2'), 'loalang-ctl-1')).toBe('allow');
    expect(await allow(CTRL, 'publish', '$SYS/x', 'loalang-ctl-1')).toBe('deny');
    // unknown users
    expect(await allow('rx-x', 'subscribe', t.receiverCommand('rx-x'))).toBe('deny');
  });

  it('leaves no line in the audit log (the broker calls these for every connection and publish)', () => {
    const n = tc.controller.db
      .prepare<[], { n: number }>("SELECT count(*) AS n FROM audit WHERE action LIKE '%/api/mqtt/%'")
      .get()!.n;
    expect(n).toBe(0);
  });

  it('follows moves, revocation and removal at once', async () => {
    expect((await tc.api('PATCH', '/api/receivers/rx-b', { zoneId: 'thon-1' })).status).toBe(200);
    expect((await authz('rx-b', 'subscribe', t.zoneCommand('thon-1'))).body.result).toBe('allow');
    expect((await authz('rx-b', 'subscribe', t.zoneCommand('thon-2'))).body.result).toBe('deny');

    const res = await tc.api('DELETE', '/api/receivers/rx-a/credentials');
    expect([200, 204]).toContain(res.status);
    expect((await authn('rx-a', 'rx-a', pw['rx-a']!)).body.result).toBe('deny');
    expect((await authz('rx-a', 'subscribe', t.receiverCommand('rx-a'))).body.result).toBe('deny');
    expect((await authz('rx-a', 'publish', t.receiverStatus('rx-a'))).body.result).toBe('deny');

    expect([200, 204]).toContain((await tc.api('DELETE', '/api/receivers/rx-b')).status);
    expect((await authn('rx-b', 'rx-b', pw['rx-b']!)).body.result).toBe('deny');
    expect((await authz('rx-b', 'publish', t.receiverStatus('rx-b'))).body.result).toBe('deny');
  });
});
