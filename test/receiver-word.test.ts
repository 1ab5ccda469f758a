/**
 * A receiver's word about itself is checked (issue 7, item 4): a receiver publishing with its own
 * credentials cannot make itself unreachable by a bogus session, cannot claim a play it cannot
 * prove, and cannot show a fake "now playing". Real MQTT over TCP on the embedded broker.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimReceiver } from '../firmware-sim/index.js';
import { MAX_SESSION_AHEAD_S } from '../src/contract/mqtt.js';
import type { ProvisioningBundle } from '../src/contract/provisioning.js';
import { judgeStatus } from '../src/domain/fleet/status-rules.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { waitFor } from './helpers/wait.js';

const MP3 = readFileSync(new URL('./fixtures/audio/tone.mp3', import.meta.url));
const SHA = createHash('sha256').update(MP3).digest('hex');

interface Receiver {
  online: boolean;
  session: number | null;
  nowPlaying: { commandId: string; priority: string } | null;
}
interface Bulletin {
  id: string;
  deliveries: { receiverId: string; state: string; reason: string | null }[];
}

let tc: TestController;
beforeEach(async () => {
  tc = await startTestController();
  await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
  await tc.register('rx-1', 'thon-1');
});
afterEach(async () => {
  await tc.stop();
});

/** The receiver's own credentials, used by hand (as a tampered firmware would). */
async function asReceiver(id: string) {
  const o = tc.sim(id);
  return mqtt.connectAsync(o.brokerUrl, {
    clientId: id,
    username: o.username!,
    password: o.password!,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
}
const status = (extra: Record<string, unknown>) =>
  JSON.stringify({ v: 1, ts: new Date().toISOString(), ...extra });
const getRx = async (id: string) => (await tc.api<Receiver>('GET', `/api/receivers/${id}`)).body;
/** A status that the controller must have handled before anything published after it. */
async function barrier(c: mqtt.MqttClient, id: string, session: number) {
  await c.publishAsync(`loalang/v1/rx/${id}/status`, status({ state: 'online', session }), { qos: 1 });
  await waitFor('barrier status seen', async () => (await getRx(id)).session === session);
}

describe("a receiver's word about itself is checked", () => {
  it('refuses an impossible session, so a genuine receiver is still reached', async () => {
    const c = await asReceiver('rx-1');
    const now = Math.floor(Date.now() / 1000);
    await barrier(c, 'rx-1', 5);
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'offline', session: Number.MAX_SAFE_INTEGER }),
      { qos: 1, retain: true },
    );
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'offline', session: now + MAX_SESSION_AHEAD_S + 10 }),
      { qos: 1, retain: true },
    );
    await barrier(c, 'rx-1', 6);
    await c.endAsync();
    // Neither bogus session was recorded.
    expect((await getRx('rx-1')).session).toBe(6);

    const rx = new SimReceiver({ ...tc.sim('rx-1'), timeFactor: 0.05 });
    try {
      await rx.start();
      await waitFor('rx-1 online', async () => (await getRx('rx-1')).online);
      const audioId = (await tc.upload(MP3, 'tin.mp3')).audio.id;
      const b = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } });
      const fin = await rx.waitForEvent((e) => e.bulletinId === b.body.id && e.state === 'finished', 10_000);
      expect(fin.sha256).toBe(SHA);
    } finally {
      await rx.stop();
    }
  });

  it('on the embedded broker, a live connection outranks an "offline" from a session ahead of it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const c = await asReceiver('rx-1');
    // Believable by the bound, but far ahead of what the genuine firmware uses.
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'online', session: now + MAX_SESSION_AHEAD_S - 100 }),
      { qos: 1, retain: true },
    );
    await waitFor(
      'bogus session recorded',
      async () => (await getRx('rx-1')).session === now + MAX_SESSION_AHEAD_S - 100,
    );
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'offline', session: now + MAX_SESSION_AHEAD_S - 100 }),
      { qos: 1, retain: true },
    );
    await c.endAsync();
    await waitFor('offline', async () => !(await getRx('rx-1')).online);

    const rx = new SimReceiver({ ...tc.sim('rx-1'), timeFactor: 0.05, initialSession: now });
    try {
      await rx.start();
      // Its genuine, lower session is taken: the broker sees the connection.
      await waitFor('rx-1 online again', async () => {
        const r = await getRx('rx-1');
        return r.online && r.session !== null && r.session < now + 1000;
      });
      const audioId = (await tc.upload(MP3, 'tin.mp3')).audio.id;
      const b = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } });
      await rx.waitForEvent((e) => e.bulletinId === b.body.id && e.state === 'finished', 10_000);
    } finally {
      await rx.stop();
    }
  });

  it('re-issuing credentials resets the session history', async () => {
    const now = Math.floor(Date.now() / 1000);
    const c = await asReceiver('rx-1');
    await barrier(c, 'rx-1', now + MAX_SESSION_AHEAD_S - 100);
    await c.endAsync();
    const re = await tc.api<{ provisioning: ProvisioningBundle }>('POST', '/api/receivers/rx-1/credentials');
    expect(re.status).toBe(200);
    tc.keep(re.body.provisioning);
    expect((await getRx('rx-1')).session).toBeNull();
    const c2 = await asReceiver('rx-1');
    await barrier(c2, 'rx-1', 3);
    await c2.endAsync();
  });

  it('counts "finished" as a play only with the sha256 of the audio', async () => {
    const audioId = (await tc.upload(MP3, 'tin.mp3')).audio.id;
    // rx-1 is away: the delivery waits, the command was never received.
    const b = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } });
    const { command_id: commandId } = tc.controller.db
      .prepare<[string], { command_id: string }>('SELECT command_id FROM bulletins WHERE id = ?')
      .get(b.body.id)!;
    const c = await asReceiver('rx-1');
    const event = (extra: Record<string, unknown>) =>
      JSON.stringify({
        v: 1,
        commandId,
        bulletinId: b.body.id,
        session: 1,
        ts: new Date().toISOString(),
        ...extra,
      });
    await c.publishAsync('loalang/v1/rx/rx-1/event', event({ state: 'finished' }), { qos: 1 });
    await c.publishAsync('loalang/v1/rx/rx-1/event', event({ state: 'started', play: 1 }), { qos: 1 });
    // The as-run log is written after the events are handled: it is the barrier.
    const log = await waitFor('both reports logged', async () => {
      const l = await tc.api<{ items: { event: string | null; detail: string | null }[] }>(
        'GET',
        `/api/bulletins/${b.body.id}/log`,
      );
      return l.body.items.length >= 2 ? l.body.items : null;
    });
    expect(log[0]).toMatchObject({ event: 'finished', detail: expect.stringContaining('not counted') });
    let now = await tc.api<Bulletin>('GET', `/api/bulletins/${b.body.id}`);
    expect(now.body.deliveries[0]!.state).toBe('playing');

    // Other bytes than the bulletin's: not a play of it.
    await c.publishAsync(
      'loalang/v1/rx/rx-1/event',
      event({ state: 'finished', play: 1, sha256: 'a'.repeat(64) }),
      {
        qos: 1,
      },
    );
    now = await waitFor('failed', async () => {
      const r = await tc.api<Bulletin>('GET', `/api/bulletins/${b.body.id}`);
      return r.body.deliveries[0]!.state === 'failed' ? r : null;
    });
    expect(now.body.deliveries[0]!.reason).toBe('checksum_mismatch');
    await c.endAsync();
  });

  it('shows nowPlaying only when it names a command sent to that receiver, with the controller’s priority', async () => {
    const c = await asReceiver('rx-1');
    const fake = {
      commandId: crypto.randomUUID(),
      priority: 'emergency',
      play: 1,
      startedAt: new Date().toISOString(),
    };
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'online', session: 7, nowPlaying: fake }),
      {
        qos: 1,
      },
    );
    await waitFor('status seen', async () => (await getRx('rx-1')).session === 7);
    expect((await getRx('rx-1')).nowPlaying).toBeNull();

    // A command it was really sent: shown, with the bulletin's own priority, not the claimed one.
    const audioId = (await tc.upload(MP3, 'tin.mp3')).audio.id;
    const b = await tc.api<Bulletin>('POST', '/api/bulletins', { audioId, target: { zones: ['thon-1'] } });
    const { command_id: commandId } = tc.controller.db
      .prepare<[string], { command_id: string }>('SELECT command_id FROM bulletins WHERE id = ?')
      .get(b.body.id)!;
    await c.publishAsync(
      'loalang/v1/rx/rx-1/status',
      status({ state: 'online', session: 8, nowPlaying: { ...fake, commandId } }),
      { qos: 1 },
    );
    const shown = await waitFor('real nowPlaying shown', async () => (await getRx('rx-1')).nowPlaying);
    expect(shown).toMatchObject({ commandId, priority: 'normal' });
    await c.endAsync();
  });
});

describe('the status rules (pure)', () => {
  const now = Date.parse('2026-12-02T00:00:00Z');
  const nowS = Math.floor(now / 1000);
  it('takes a newer session, ignores an older one, refuses one beyond the bound', () => {
    expect(judgeStatus({ state: 'online', session: 5 }, null, null, now)).toEqual({
      accept: true,
      newSession: true,
      historyReset: false,
    });
    expect(judgeStatus({ state: 'online', session: 5 }, 5, null, now)).toMatchObject({
      accept: true,
      newSession: false,
    });
    expect(judgeStatus({ state: 'offline', session: 4 }, 5, null, now)).toEqual({
      accept: false,
      why: 'late',
    });
    expect(judgeStatus({ state: 'online', session: nowS + MAX_SESSION_AHEAD_S }, 5, null, now).accept).toBe(
      true,
    );
    expect(judgeStatus({ state: 'offline', session: nowS + MAX_SESSION_AHEAD_S + 1 }, 5, null, now)).toEqual({
      accept: false,
      why: 'impossible_session',
    });
  });
  it('lets a live connection outrank the statuses, where the broker can tell', () => {
    expect(judgeStatus({ state: 'offline', session: 9 }, 5, true, now)).toEqual({
      accept: false,
      why: 'offline_while_connected',
    });
    expect(judgeStatus({ state: 'online', session: 3 }, 9, true, now)).toEqual({
      accept: true,
      newSession: true,
      historyReset: true,
    });
    expect(judgeStatus({ state: 'online', session: 3 }, 9, false, now)).toEqual({
      accept: false,
      why: 'late',
    });
    expect(judgeStatus({ state: 'offline', session: 9 }, 5, false, now).accept).toBe(true);
  });
});
