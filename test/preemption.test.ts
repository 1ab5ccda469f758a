/**
 * Preemption and resume of bulletins (issue 9, item 5; docs/protocol.md §7.3), on a real
 * controller (embedded broker, SQLite) and simulated receivers: an interrupted bulletin is not
 * lost — it plays again from the start of the cut play when its preemptor ends, unless it expired
 * or was stopped meanwhile — and the officer sees `interrupted`, then `playing`, then `done`, only
 * from what the receivers reported. The receiver decides alone: it resumes with the controller gone.
 */
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimReceiver } from '../firmware-sim/index.js';
import { type PlayCommand, type ReceiverEvent, topics } from '../src/contract/mqtt.js';
import { canMove, eventIgnoredBecause, isFinal, stateForEvent } from '../src/domain/bulletins/states.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { wav } from './helpers/sim-harness.js';
import { waitFor } from './helpers/wait.js';

/** playback at 1/20 of real time: 20 s of audio sounds for 1 s */
const TIME_FACTOR = 0.05;

interface Delivery {
  receiverId: string;
  state: string;
  reason: string | null;
  detail: string | null;
  play: number | null;
}
interface Bulletin {
  id: string;
  status: string;
  deliveries: Delivery[];
}
interface AsRunEntry {
  receiverId: string;
  state: string;
  event: string | null;
  detail: string | null;
  play: number | null;
}

const is = (bulletinId: string, state: ReceiverEvent['state']) => (e: ReceiverEvent) =>
  e.bulletinId === bulletinId && e.state === state;
/**
 * What `rx` reported about one bulletin's play command, in order, as `state` or `state:play` (`r`:
 * resumed); not the confirmation of a stop naming the bulletin.
 */
const trail = (rx: SimReceiver, bulletinId: string) => {
  const commandId = rx.events.find((e) => e.bulletinId === bulletinId)?.commandId;
  return rx.events
    .filter((e) => e.commandId === commandId)
    .map((e) => (e.play === undefined ? e.state : `${e.state}:${e.play}${e.resumed ? 'r' : ''}`));
};

/** The play commands' `started`/`preempted`/`finished` across bulletins, in the order they happened. */
const sounding = (rx: SimReceiver, names: Record<string, string>) =>
  rx.events
    .filter(
      (e) =>
        e.bulletinId !== undefined &&
        names[e.bulletinId] !== undefined &&
        (e.state === 'started' || e.state === 'preempted' || e.state === 'finished'),
    )
    .map((e) => `${names[e.bulletinId!]}:${e.state}${e.resumed ? ':resumed' : ''}`);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** The bulletin API helpers of one controller. */
function bulletinsOf(tc: () => TestController) {
  const api = {
    async post(body: Record<string, unknown>): Promise<string> {
      const res = await tc().api<Bulletin>('POST', '/api/bulletins', body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id;
    },
    get: async (id: string) => (await tc().api<Bulletin>('GET', `/api/bulletins/${id}`)).body,
    /** The delivery of `id` to `receiverId` once it is in `state`. */
    waitState: (id: string, receiverId: string, state: string, timeoutMs = 10_000) =>
      waitFor(
        `${receiverId} ${state}`,
        async () => {
          const d = (await api.get(id)).deliveries.find((x) => x.receiverId === receiverId);
          return d?.state === state ? d : null;
        },
        timeoutMs,
      ),
    asRun: async (id: string) =>
      (await tc().api<AsRunEntry[] | { items: AsRunEntry[] }>('GET', `/api/bulletins/${id}/log`)).body,
  };
  return api;
}

const entries = (log: AsRunEntry[] | { items: AsRunEntry[] }): AsRunEntry[] =>
  Array.isArray(log) ? log : log.items;

describe('an interrupted bulletin resumes', () => {
  let tc: TestController;
  const receivers: SimReceiver[] = [];
  const audio: Record<'long' | 'short' | 'longAlert', string> = { long: '', short: '', longAlert: '' };
  const b = bulletinsOf(() => tc);

  beforeAll(async () => {
    tc = await startTestController({});
    // Two villages: no emergency here goes to every village (that needs a confirmation).
    await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
    await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
    await tc.register('rx-other', 'thon-2');
    audio.long = (await tc.upload(wav(300, 40_000), 'long.wav', 'Bản tin dài')).audio.id; // 2 s
    audio.short = (await tc.upload(wav(880, 10_000), 'alert.wav', 'Cảnh báo')).audio.id; // 0.5 s
    audio.longAlert = (await tc.upload(wav(990, 60_000), 'alert-long.wav', 'Cảnh báo dài')).audio.id; // 3 s
  });

  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.stop()));
    await tc?.stop();
  });

  /** A fresh receiver in thon-1, online, with nothing held from another test. */
  async function receiver(id: string): Promise<SimReceiver> {
    await tc.register(id, 'thon-1');
    const rx = new SimReceiver({ ...tc.sim(id), timeFactor: TIME_FACTOR });
    receivers.push(rx);
    await rx.start();
    await waitFor(`${id} online`, () => tc.isOnline(id));
    return rx;
  }
  const to = (rx: SimReceiver) => ({ receivers: [rx.id] });

  it('a normal bulletin interrupted by an emergency plays again from the start of the cut play, then its other repeats', async () => {
    const rx = await receiver('rx-normal');
    const normal = await b.post({ audioId: audio.long, target: to(rx), repeat: 2, gapSeconds: 0 });
    await rx.waitForEvent(is(normal, 'started'));
    const urgent = await b.post({ audioId: audio.short, target: to(rx), priority: 'emergency' });

    const cut = await rx.waitForEvent(is(normal, 'preempted'));
    expect(cut).toMatchObject({ play: 1, resumes: true });
    expect(cut.offsetMs).toBeGreaterThanOrEqual(0);
    expect(cut.offsetMs).toBeLessThan(40_000);
    expect(rx.events.find(is(urgent, 'started'))?.commandId).toBe(cut.by);
    // What the officer sees while the emergency sounds: interrupted, not over.
    const interrupted = await b.waitState(normal, rx.id, 'interrupted');
    expect(interrupted.detail).toContain('plays again');

    await rx.waitForEvent(is(normal, 'finished'), 10_000);
    expect(trail(rx, normal)).toEqual([
      'received',
      'downloading',
      'ready',
      'started:1',
      'preempted:1',
      'started:1r',
      'started:2',
      'finished:2',
    ]);
    expect(sounding(rx, { [normal]: 'N', [urgent]: 'E' })).toEqual([
      'N:started',
      'N:preempted',
      'E:started',
      'E:finished',
      'N:started:resumed',
      'N:started',
      'N:finished',
    ]);
    expect(rx.played.map((p) => [p.bulletinId, p.plays, p.interruptions])).toEqual([
      [urgent, 1, 0],
      [normal, 2, 1],
    ]);
    const done = await b.waitState(normal, rx.id, 'done');
    expect(done.play).toBe(2);
    await b.waitState(urgent, rx.id, 'done');
    await waitFor('the bulletin completed', async () => (await b.get(normal)).status === 'completed');
    // The as-run log: the receiver's own word, the interruption and the resume included.
    const log = entries(await b.asRun(normal)).filter((l) => l.event !== null);
    expect(log.map((l) => `${l.event}:${l.state}`)).toEqual([
      'received:received',
      'downloading:downloading',
      'ready:ready',
      'started:playing',
      'preempted:interrupted',
      'started:playing',
      'started:playing',
      'finished:done',
    ]);
    expect(log[5]?.detail).toContain('resumed');
  });

  it('an emergency interrupting an emergency: the newest wins, then the older resumes, then the normal one under both; all done', async () => {
    const rx = await receiver('rx-nested');
    const normal = await b.post({ audioId: audio.long, target: to(rx) });
    await rx.waitForEvent(is(normal, 'started'));
    const first = await b.post({
      audioId: audio.long,
      target: to(rx),
      priority: 'emergency',
      repeat: 2,
      gapSeconds: 0,
    });
    await rx.waitForEvent(is(first, 'started'));
    const second = await b.post({ audioId: audio.short, target: to(rx), priority: 'emergency' });
    await rx.waitForEvent(is(first, 'preempted'));
    await Promise.all([b.waitState(first, rx.id, 'interrupted'), b.waitState(normal, rx.id, 'interrupted')]);

    await rx.waitForEvent(is(normal, 'finished'), 15_000);
    // Newest first: the second emergency, then the first (interrupted last), then the normal one.
    expect(sounding(rx, { [normal]: 'N', [first]: 'E1', [second]: 'E2' })).toEqual([
      'N:started',
      'N:preempted',
      'E1:started',
      'E1:preempted',
      'E2:started',
      'E2:finished',
      'E1:started:resumed',
      'E1:started',
      'E1:finished',
      'N:started:resumed',
      'N:finished',
    ]);
    expect(rx.played.map((p) => p.bulletinId)).toEqual([second, first, normal]);
    expect(rx.events.find(is(first, 'preempted'))?.by).toBe(rx.events.find(is(second, 'started'))?.commandId);
    for (const id of [normal, first, second]) await b.waitState(id, rx.id, 'done');
  });

  it('an interrupted bulletin that expires while it waits is reported expired, and never plays again', async () => {
    const rx = await receiver('rx-expire');
    const normal = await b.post({ audioId: audio.long, target: to(rx), expiresInSeconds: 2 });
    await rx.waitForEvent(is(normal, 'started'));
    // 3 s of emergency: the normal bulletin's expiry passes while it waits to resume.
    const urgent = await b.post({ audioId: audio.longAlert, target: to(rx), priority: 'emergency' });
    await rx.waitForEvent(is(normal, 'preempted'));
    await b.waitState(normal, rx.id, 'interrupted');

    const expired = await rx.waitForEvent(is(normal, 'expired'), 5000);
    expect(expired.reason).toBe('expired');
    // at its expiry, while the emergency still sounds
    expect(rx.nowPlaying?.bulletinId).toBe(urgent);
    const shown = await b.waitState(normal, rx.id, 'expired');
    expect(shown.reason).toBe('expired');
    await rx.waitForEvent(is(urgent, 'finished'), 10_000);
    expect(trail(rx, normal)).toEqual([
      'received',
      'downloading',
      'ready',
      'started:1',
      'preempted:1',
      'expired',
    ]);
    expect(rx.played.map((p) => p.bulletinId)).toEqual([urgent]);
    expect(rx.nowPlaying).toBeNull();
    expect(rx.queued).toEqual([]);
  });

  it('an interrupted bulletin cancelled while it waits does not resume; the emergency plays on', async () => {
    const rx = await receiver('rx-cancel');
    const normal = await b.post({ audioId: audio.long, target: to(rx), repeat: 3, gapSeconds: 0 });
    await rx.waitForEvent(is(normal, 'started'));
    const urgent = await b.post({ audioId: audio.longAlert, target: to(rx), priority: 'emergency' });
    await rx.waitForEvent(is(normal, 'preempted'));
    await b.waitState(normal, rx.id, 'interrupted');
    // The receiver's page shows the emergency sounding (3 s), not the interrupted bulletin.
    type Rx = { nowPlaying: { bulletinId?: string } | null };
    await waitFor('the emergency shown playing', async () => {
      const np = (await tc.api<Rx>('GET', `/api/receivers/${rx.id}`)).body.nowPlaying;
      return np?.bulletinId === urgent;
    });

    const cancel = await tc.api<{ status: string; stop: { stop: { id: string } } }>(
      'POST',
      `/api/bulletins/${normal}/cancel`,
    );
    expect(cancel.status).toBe(200);
    const cancelled = await rx.waitForEvent(is(normal, 'cancelled'));
    expect(cancelled.by).toBe(cancel.body.stop.stop.id);
    // while the emergency still sounds, untouched
    expect(rx.nowPlaying?.bulletinId).toBe(urgent);
    await b.waitState(normal, rx.id, 'cancelled');
    await rx.waitForEvent(is(urgent, 'finished'), 10_000);
    expect(trail(rx, normal)).toEqual([
      'received',
      'downloading',
      'ready',
      'started:1',
      'preempted:1',
      'cancelled',
    ]);
    expect(rx.played.map((p) => p.bulletinId)).toEqual([urgent]);
    await b.waitState(urgent, rx.id, 'done');
    const stop = await waitFor('stop confirmed', async () => {
      const st = await tc.api<{ status: string }>('GET', `/api/stops/${cancel.body.stop.stop.id}`);
      return st.body.status === 'confirmed' ? st.body : null;
    });
    expect(stop.status).toBe('confirmed');
  });

  it('a receiver built to the earlier protocol (`preempted` without `resumes`) ends the delivery as before', async () => {
    // Played by a plain MQTT client with the receiver's credentials: it says what old firmware says.
    await tc.register('rx-old', 'thon-1');
    const bundle = tc.bundles.get('rx-old')!;
    const t = topics();
    const old = await mqtt.connectAsync(tc.mqttUrl, {
      clientId: 'rx-old',
      username: bundle.mqtt.username,
      password: bundle.mqtt.password,
      reconnectPeriod: 0,
    });
    try {
      const commands: PlayCommand[] = [];
      old.on('message', (topic, payload) => {
        if (topic !== t.receiverCommand('rx-old')) return;
        const body = JSON.parse(JSON.parse(payload.toString()).body) as PlayCommand;
        if (body.type === 'play') commands.push(body);
      });
      await old.subscribeAsync(t.receiverCommand('rx-old'), { qos: 1 });
      const session = Math.floor(Date.now() / 1000);
      await old.publishAsync(
        t.receiverStatus('rx-old'),
        JSON.stringify({ v: 1, state: 'online', session, ts: new Date().toISOString() }),
        { qos: 1, retain: true },
      );
      await waitFor('rx-old online', () => tc.isOnline('rx-old'));
      const say = (cmd: PlayCommand, state: ReceiverEvent['state'], extra: Partial<ReceiverEvent> = {}) =>
        old.publishAsync(
          t.receiverEvent('rx-old'),
          JSON.stringify({
            v: 1,
            commandId: cmd.id,
            bulletinId: cmd.bulletinId,
            state,
            session,
            ts: new Date().toISOString(),
            ...extra,
          }),
          { qos: 1 },
        );
      const normal = await b.post({ audioId: audio.long, target: { receivers: ['rx-old'] } });
      const n = await waitFor('the play command', () => commands.find((c) => c.bulletinId === normal));
      await say(n, 'started', { play: 1 });
      await b.waitState(normal, 'rx-old', 'playing');
      const urgent = await b.post({
        audioId: audio.short,
        target: { receivers: ['rx-old'] },
        priority: 'emergency',
      });
      const e = await waitFor('the emergency', () => commands.find((c) => c.bulletinId === urgent));
      await say(n, 'preempted', { by: e.id });
      await say(e, 'started', { play: 1 });
      const final = await b.waitState(normal, 'rx-old', 'preempted');
      expect(final.detail).not.toContain('plays again');
      expect((await b.get(normal)).status).toBe('completed');
    } finally {
      await old.endAsync();
    }
  });
});

describe('the receiver resumes by itself', () => {
  it('with the controller gone after sending (its broker too), it resumes and finishes; the controller learns it when back', async () => {
    // A fixed broker port, so that the restarted controller's broker is where the receiver looks.
    const env = { MQTT_PORT: String(await freePort()) };
    let tc = await startTestController(env, { keepData: true });
    const dataDir = tc.dataDir;
    const b = bulletinsOf(() => tc);
    let rx: SimReceiver | null = null;
    try {
      await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
      await tc.api('POST', '/api/zones', { id: 'thon-2', name: 'Thôn 2' });
      await tc.register('rx-alone', 'thon-1');
      await tc.register('rx-other', 'thon-2');
      const long = (await tc.upload(wav(300, 20_000), 'long.wav')).audio.id;
      const alert = (await tc.upload(wav(880, 80_000), 'alert.wav')).audio.id; // 4 s
      rx = new SimReceiver({
        ...tc.sim('rx-alone'),
        timeFactor: TIME_FACTOR,
        reconnectMinMs: 100,
        reconnectMaxMs: 300,
      });
      await rx.start();
      await waitFor('online', () => tc.isOnline('rx-alone'));
      const target = { receivers: ['rx-alone'] };
      const normal = await b.post({ audioId: long, target, repeat: 2, gapSeconds: 0 });
      await rx.waitForEvent(is(normal, 'started'));
      const urgent = await b.post({ audioId: alert, target, priority: 'emergency' });
      await rx.waitForEvent(is(urgent, 'started'));
      await b.waitState(normal, 'rx-alone', 'interrupted');

      // The controller (and the broker inside it) goes away while the emergency sounds.
      await tc.stop();
      await waitFor('the receiver sees the link gone', () => rx?.state === 'offline');
      expect(rx.nowPlaying?.bulletinId).toBe(urgent);

      await rx.waitForEvent(is(normal, 'finished'), 15_000);
      expect(rx.state).toBe('offline');
      expect(sounding(rx, { [normal]: 'N', [urgent]: 'E' })).toEqual([
        'N:started',
        'N:preempted',
        'E:started',
        'E:finished',
        'N:started:resumed',
        'N:started',
        'N:finished',
      ]);
      expect(rx.played.map((p) => p.bulletinId)).toEqual([urgent, normal]);

      // Back: the receiver reconnects and sends what it did meanwhile; the officer sees it.
      tc = await startTestController(env, { dataDir, keepData: true });
      const doneN = await b.waitState(normal, 'rx-alone', 'done', 20_000);
      expect(doneN.play).toBe(2);
      await b.waitState(urgent, 'rx-alone', 'done');
      const log = entries(await b.asRun(normal)).filter((l) => l.event !== null);
      expect(log.map((l) => l.event)).toEqual([
        'received',
        'downloading',
        'ready',
        'started',
        'preempted',
        'started',
        'started',
        'finished',
      ]);
    } finally {
      await rx?.stop();
      await tc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the delivery state machine around an interruption', () => {
  it('`preempted` with `resumes` is not final; the resumed play, its end, expiry or a stop end it', () => {
    expect(stateForEvent('preempted', true)).toBe('interrupted');
    expect(stateForEvent('preempted')).toBe('preempted');
    expect(isFinal('interrupted')).toBe(false);
    expect(isFinal('preempted')).toBe(true);
    expect(canMove('playing', 'interrupted')).toBe(true);
    expect(canMove('interrupted', 'playing')).toBe(true);
    for (const end of ['done', 'expired', 'cancelled', 'failed', 'preempted', 'stopping'] as const)
      expect(canMove('interrupted', end), end).toBe(true);
    // a duplicate report changes nothing; a stop under way hides no interruption of its own
    expect(canMove('interrupted', 'interrupted')).toBe(false);
    expect(canMove('stopping', 'interrupted')).toBe(false);
    expect(canMove('ready', 'interrupted')).toBe(true);
    // an item already playing cannot expire; an interrupted one can (it waits to resume)
    expect(eventIgnoredBecause({ state: 'expired' }, 'playing')).not.toBeNull();
    expect(eventIgnoredBecause({ state: 'expired' }, 'interrupted')).toBeNull();
  });
});
