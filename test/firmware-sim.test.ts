/**
 * The receiver simulator against real parts: the embedded broker with its ACLs (and Mosquitto),
 * an HTTP server with real bytes, and a controller publishing sealed commands.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFleet } from '../firmware-sim/index.js';
import type { SimReceiver } from '../firmware-sim/receiver.js';
import type { ReceiverConfig, ReceiverEvent, Status } from '../src/contract/mqtt.js';
import { generateSigningKey, seal } from '../src/contract/signing.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { SimHarness, sha256, watch, wav } from './helpers/sim-harness.js';

/** The states `rx` reported for one command, in order. */
const states = (rx: SimReceiver, commandId: string) =>
  rx.events.filter((e) => e.commandId === commandId).map((e) => e.state);
const is = (commandId: string, state: ReceiverEvent['state']) => (e: ReceiverEvent) =>
  e.commandId === commandId && e.state === state;
const FULL_FLOW = ['received', 'downloading', 'ready', 'started', 'finished'];

describe('SimReceiver (embedded broker with ACLs)', () => {
  let h: SimHarness;
  beforeAll(async () => {
    h = await new SimHarness().start();
  });
  afterEach(async () => {
    await h.stopReceivers();
    expect(h.protocolErrors).toEqual([]);
  });
  afterAll(async () => {
    await h.close();
  });

  it('plays a bulletin: received, downloading, ready, started per play, finished with the sha256 played', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(440, 250));
    const wire = await watch<ReceiverEvent>(h.controller, h.t.receiverEvent(rx.id));
    const cmd = h.play(file, { repeat: 2, gapMs: 500, volume: 90 });
    await h.send(rx, cmd);

    const finished = await rx.waitForEvent(is(cmd.id, 'finished'));
    expect(states(rx, cmd.id)).toEqual([
      'received',
      'downloading',
      'ready',
      'started',
      'started',
      'finished',
    ]);
    const plays = rx.events.filter(is(cmd.id, 'started')).map((e) => e.play);
    expect(plays).toEqual([1, 2]);
    expect(finished).toMatchObject({ v: 1, bulletinId: cmd.bulletinId, play: 2, sha256: sha256(file.bytes) });
    expect(finished.session).toBe(rx.session);
    expect(rx.played).toEqual([
      expect.objectContaining({
        commandId: cmd.id,
        bulletinId: cmd.bulletinId,
        sha256: sha256(file.bytes),
        plays: 2,
        priority: 'normal',
        volume: 90,
      }),
    ]);
    expect(rx.nowPlaying).toBeNull();
    expect(rx.volume).toBe(70); // a command's volume is for its bulletin only
    expect(rx.cached).toEqual([file.audio.sha256]);
    expect(h.audio.hits(file.path)).toBe(1);

    // The controller receives the same events, in the same order, over MQTT.
    await wire.waitFor((m) => m.commandId === cmd.id && m.state === 'finished');
    expect(wire.messages.map((m) => m.state)).toEqual(states(rx, cmd.id));
  });

  it('acknowledges a cached bulletin that can start at once with `started` only', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(450, 250));
    const first = h.play(file);
    await h.send(rx, first);
    await rx.waitForEvent(is(first.id, 'finished'));
    const second = h.play(file);
    await h.send(rx, second);
    await rx.waitForEvent(is(second.id, 'finished'));
    expect(states(rx, second.id)).toEqual(['started', 'finished']);
    expect(h.audio.hits(file.path)).toBe(1);
  });

  it('handles a command id once, reporting a second copy `rejected`/`replayed`', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(460, 250));
    const cmd = h.play(file);
    const payload = seal(h.key, h.t.receiverCommand(rx.id), cmd);
    await h.publish(rx, payload);
    await h.publish(rx, payload);
    // Same publisher, same topic: the probe arrives after both copies.
    const probe = h.play(file);
    await h.send(rx, probe);
    await rx.waitForEvent(is(probe.id, 'finished'));
    expect(states(rx, cmd.id).filter((s) => s !== 'rejected')).toEqual(FULL_FLOW);
    expect(rx.events.filter(is(cmd.id, 'rejected')).map((e) => e.reason)).toEqual(['replayed']);
    expect(rx.played.map((p) => p.commandId)).toEqual([cmd.id, probe.id]);
  });

  it('reports `expired` for a command past its expiry, by its own clock, and while downloading', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(470, 250));
    const stale = h.play(file, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    await h.send(rx, stale);
    const expired = await rx.waitForEvent(is(stale.id, 'expired'));
    expect(expired.reason).toBe('expired');
    expect(states(rx, stale.id)).toEqual(['expired']);

    // A receiver whose clock runs two minutes ahead finds a one-minute command already expired.
    rx.clockOffsetMs = 120_000;
    const fresh = h.play(file);
    await h.send(rx, fresh);
    await rx.waitForEvent(is(fresh.id, 'expired'));
    expect(states(rx, fresh.id)).toEqual(['expired']);
    rx.clockOffsetMs = 0;

    // 4 kB at 1 kB/s cannot beat an expiry 500 ms away.
    rx.faults.downloadRateBytesPerSec = 1000;
    const slow = h.play(file, { expiresAt: new Date(Date.now() + 500).toISOString() });
    await h.send(rx, slow);
    await rx.waitForEvent(is(slow.id, 'expired'));
    expect(states(rx, slow.id)).toEqual(['received', 'downloading', 'expired']);
    expect(rx.played).toEqual([]);
    expect(rx.cached).toEqual([]);
  });

  it('lets an emergency preempt a normal bulletin, reporting `preempted` with `by`; the normal one resumes after it', async () => {
    const rx = await h.receiver();
    const long = h.audio.add(wav(300, 250), 600_000); // 6 s at timeFactor 0.01
    const alert = h.audio.add(wav(880, 250), 1000);
    const normal = h.play(long);
    await h.send(rx, normal);
    await rx.waitForEvent(is(normal.id, 'started'));

    const emergency = h.play(alert, { priority: 'emergency' });
    await h.send(rx, emergency);
    const preempted = await rx.waitForEvent(is(normal.id, 'preempted'));
    expect(preempted).toMatchObject({ by: emergency.id, play: 1, resumes: true });
    await rx.waitForEvent(is(emergency.id, 'finished'));
    expect(states(rx, emergency.id)).toEqual(FULL_FLOW);
    // played again from its start as soon as the emergency ended (docs/protocol.md §7.3)
    expect(states(rx, normal.id)).toEqual([...FULL_FLOW.slice(0, 4), 'preempted', 'started']);
    expect(rx.events.filter(is(normal.id, 'started')).at(-1)).toMatchObject({ play: 1, resumed: true });
    const stopNormal = h.stop({ bulletinId: normal.bulletinId });
    await h.send(rx, stopNormal);
    await rx.waitForEvent(is(normal.id, 'cancelled'));

    // Cached this time: the emergency's only acknowledgement is `started`, after the preemption.
    const normal2 = h.play(long);
    await h.send(rx, normal2);
    await rx.waitForEvent(is(normal2.id, 'started'));
    const emergency2 = h.play(alert, { priority: 'emergency' });
    await h.send(rx, emergency2);
    await rx.waitForEvent(is(emergency2.id, 'finished'));
    expect(states(rx, emergency2.id)).toEqual(['started', 'finished']);
    const order = rx.events.findIndex(is(normal2.id, 'preempted'));
    expect(order).toBeGreaterThan(-1);
    expect(order).toBeLessThan(rx.events.findIndex(is(emergency2.id, 'started')));
    expect(rx.played.map((p) => p.commandId)).toEqual([emergency.id, emergency2.id]);
    await h.send(rx, h.stop({ bulletinId: normal2.bulletinId }));
    await rx.waitForEvent(is(normal2.id, 'cancelled'));
  });

  it('queues a priority bulletin behind a playing priority one and plays it after', async () => {
    const rx = await h.receiver();
    const first = h.play(h.audio.add(wav(500, 250), 100_000), { priority: 'priority' }); // 1 s
    await h.send(rx, first);
    await rx.waitForEvent(is(first.id, 'started'));
    const second = h.play(h.audio.add(wav(510, 250), 1000), { priority: 'priority' });
    await h.send(rx, second);
    await rx.waitForEvent(is(second.id, 'ready'));
    expect(rx.queued).toEqual([second.id]);
    expect(rx.nowPlaying?.commandId).toBe(first.id);

    await rx.waitForEvent(is(second.id, 'finished'), 10_000);
    const timeline = rx.events
      .filter((e) => e.state === 'started' || e.state === 'finished')
      .map((e) => `${e.commandId === first.id ? 'first' : 'second'}:${e.state}`);
    expect(timeline).toEqual(['first:started', 'first:finished', 'second:started', 'second:finished']);
    expect(states(rx, first.id)).not.toContain('preempted');
  });

  it('cancels by bulletin and all-stop: playing, queued and downloading items, only older ones', async () => {
    const rx = await h.receiver();
    const a = h.play(h.audio.add(wav(300, 250), 600_000));
    await h.send(rx, a);
    await rx.waitForEvent(is(a.id, 'started'));
    const b = h.play(h.audio.add(wav(310, 250), 600_000));
    await h.send(rx, b);
    await rx.waitForEvent(is(b.id, 'ready'));
    rx.faults.downloadRateBytesPerSec = 500;
    const c = h.play(h.audio.add(wav(320, 250), 1000));
    await h.send(rx, c);
    await rx.waitForEvent(is(c.id, 'downloading'));

    // A stop issued before `a` does not touch it; the one after does.
    const olderStop = h.stop({ bulletinId: a.bulletinId, seq: a.seq - 1 });
    await h.send(rx, olderStop);
    const stopA = h.stop({ bulletinId: a.bulletinId });
    await h.send(rx, stopA);
    const cancelledA = await rx.waitForEvent(is(a.id, 'cancelled'));
    expect(cancelledA.by).toBe(stopA.id);
    await rx.waitForEvent(is(b.id, 'started'));
    expect(rx.nowPlaying?.commandId).toBe(b.id);

    const allStop = h.stop();
    await h.send(rx, allStop);
    await rx.waitForEvent(is(b.id, 'cancelled'));
    await rx.waitForEvent(is(c.id, 'cancelled'));
    expect(rx.nowPlaying).toBeNull();
    expect(rx.queued).toEqual([]);
    expect(states(rx, c.id)).toEqual(['received', 'downloading', 'cancelled']);
    rx.faults.downloadRateBytesPerSec = undefined;

    // Issued before the all-stop but delivered after it (another topic): cancelled on arrival.
    const file = h.audio.add(wav(330, 250), 1000);
    const late = h.play(file, { seq: allStop.seq - 1 });
    await h.send(rx, late);
    expect(await rx.waitForEvent(is(late.id, 'cancelled'))).toMatchObject({ by: allStop.id });
    // Issued after it: plays.
    const after = h.play(file);
    await h.send(rx, after);
    await rx.waitForEvent(is(after.id, 'finished'));
    expect(rx.played.map((p) => p.commandId)).toEqual([after.id]);
  });

  it('fails with checksum_mismatch on corrupted bytes and does not cache them', async () => {
    const rx = await h.receiver({ faults: { corruptBytes: true } });
    const file = h.audio.add(wav(600, 250));
    const cmd = h.play(file);
    await h.send(rx, cmd);
    const failed = await rx.waitForEvent(is(cmd.id, 'failed'));
    expect(failed.reason).toBe('checksum_mismatch');
    expect(states(rx, cmd.id)).toEqual(['received', 'downloading', 'failed']);
    expect(rx.cached).toEqual([]);

    rx.faults.corruptBytes = false;
    const retry = h.play(file);
    await h.send(rx, retry);
    await rx.waitForEvent(is(retry.id, 'finished'));
    expect(states(rx, retry.id)).toEqual(FULL_FLOW);
  });

  it('recovers from a download cut mid-way by retrying', async () => {
    const rx = await h.receiver({ faults: { dropMidDownload: 1 } });
    const file = h.audio.add(wav(610, 250));
    const cmd = h.play(file);
    await h.send(rx, cmd);
    await rx.waitForEvent(is(cmd.id, 'finished'));
    expect(states(rx, cmd.id)).toEqual(FULL_FLOW);
    expect(h.audio.hits(file.path)).toBe(2);
    expect(rx.faults.dropMidDownload).toBe(0);
    expect(rx.played[0]?.sha256).toBe(sha256(file.bytes));
  });

  it('fails with download_failed at once on HTTP 404 (no retry), and size_mismatch on a wrong size', async () => {
    const rx = await h.receiver();
    const gone = h.audio.missing(wav(620, 250));
    const cmd = h.play(gone);
    await h.send(rx, cmd);
    const failed = await rx.waitForEvent(is(cmd.id, 'failed'));
    expect(failed).toMatchObject({ reason: 'download_failed', detail: 'HTTP 404' });
    // A missing file or an expired link will not get better: one attempt only.
    expect(h.audio.hits(gone.path)).toBe(1);

    const file = h.audio.add(wav(630, 250));
    const wrong = h.play(file, { audio: { ...file.audio, size: file.audio.size + 10 } });
    await h.send(rx, wrong);
    expect((await rx.waitForEvent(is(wrong.id, 'failed'))).reason).toBe('size_mismatch');
    expect(rx.played).toEqual([]);
  });

  it('rejects a forged (bad_signature) or unknown-key (unknown_key) command and plays nothing', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(640, 250));
    const forged = h.play(file);
    await h.send(rx, forged, generateSigningKey(h.key.kid)); // right kid, wrong key
    const unknown = h.play(file);
    await h.send(rx, unknown, generateSigningKey('someone-else'));
    const rejected = await rx.waitForEvent(is(forged.id, 'rejected'));
    expect(rejected).toMatchObject({ reason: 'bad_signature', bulletinId: forged.bulletinId });
    expect((await rx.waitForEvent(is(unknown.id, 'rejected'))).reason).toBe('unknown_key');
    expect(states(rx, forged.id)).toEqual(['rejected']);
    expect(states(rx, unknown.id)).toEqual(['rejected']);
    expect(h.audio.hits(file.path)).toBe(0);
    expect(rx.played).toEqual([]);
  });

  it('ignores malformed and oversized payloads on its command topic and keeps working', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(650, 250));
    const junk: (string | Buffer)[] = [
      'not json',
      '',
      '{}',
      JSON.stringify({ body: 'x', sig: 'y', kid: h.key.kid }),
      seal(h.key, h.t.receiverCommand(rx.id), { hello: 'world' }),
      seal(h.key, h.t.receiverCommand(rx.id), { ...h.play(file), type: 'reboot' }),
      seal(h.key, h.t.receiverCommand(rx.id), { ...h.play(file), audio: { ...file.audio, sha256: 'XYZ' } }),
      randomBytes(512),
      JSON.stringify({ body: 'a'.repeat(20_000), sig: 'x', kid: h.key.kid }),
    ];
    for (const payload of junk) await h.publish(rx, payload);
    const probe = h.play(file);
    await h.send(rx, probe);
    await rx.waitForEvent(is(probe.id, 'finished'));
    // Signed but out of contract (unknown type, bad sha256): refused with reason "other", so the
    // controller learns why; everything else is dropped silently. Nothing was played but the probe.
    const others = rx.events.filter((e) => e.commandId !== probe.id);
    expect(others.map((e) => [e.state, e.reason])).toEqual([
      ['rejected', 'other'],
      ['rejected', 'other'],
    ]);
    expect(rx.events.filter((e) => e.commandId === probe.id).map((e) => e.state)).toEqual(FULL_FLOW);
    expect(rx.played.map((p) => p.commandId)).toEqual([probe.id]);
    expect(rx.state).toBe('online');
  });

  it('answers every play with rejected/busy when told to', async () => {
    const rx = await h.receiver({ faults: { rejectCommands: true } });
    const cmd = h.play(h.audio.add(wav(660, 250)));
    await h.send(rx, cmd);
    expect((await rx.waitForEvent(is(cmd.id, 'rejected'))).reason).toBe('busy');
    expect(states(rx, cmd.id)).toEqual(['rejected']);
  });

  it('follows its signed config: zone and all topics only while adopted, across a reconnection', async () => {
    const rx = await h.receiver();
    const file = h.audio.add(wav(700, 250), 1000);
    const zone = h.t.zoneCommand('village-7');
    const configs: ReceiverConfig[] = [];
    rx.on('config', (c) => configs.push(c));
    // Each probe goes to the receiver's own topic after the commands under test: same
    // publisher, so when the probe has finished, anything delivered before it has been seen.
    const probe = async () => {
      const cmd = h.play(file);
      await h.send(rx, cmd);
      await rx.waitForEvent(is(cmd.id, 'finished'));
    };

    const early = [h.play(file), h.play(file)];
    await h.send(zone, early[0]);
    await h.send(h.t.allCommand(), early[1]);
    await probe();
    expect(rx.events.filter((e) => e.commandId === early[0]?.id || e.commandId === early[1]?.id)).toEqual([]);

    const adopted = await h.configure(rx, { adopted: true, zones: ['village-7'], volume: 55 });
    await rx.waitForConfig((c) => c.seq === adopted.seq);
    expect(rx.volume).toBe(55);
    for (const topic of [zone, h.t.allCommand()]) {
      const cmd = h.play(file);
      await h.send(topic, cmd);
      await rx.waitForEvent(is(cmd.id, 'finished'));
    }

    // After a reconnection (clean session) the zone subscription is back before "online".
    await rx.goOffline();
    await rx.goOnline();
    const again = h.play(file);
    await h.send(zone, again);
    await rx.waitForEvent(is(again.id, 'finished'));

    // A stale config is ignored; an un-adoption drops the zone and all topics.
    await h.controller.publishAsync(
      h.t.receiverConfig(rx.id),
      seal(h.key, h.t.receiverConfig(rx.id), { ...adopted, seq: adopted.seq - 1, zones: ['elsewhere'] }),
      { qos: 1 },
    );
    const dropped = await h.configure(rx, { adopted: false, zones: [] });
    await rx.waitForConfig((c) => c.seq === dropped.seq);
    const late = [h.play(file), h.play(file)];
    await h.send(zone, late[0]);
    await h.send(h.t.allCommand(), late[1]);
    await probe();
    expect(rx.events.filter((e) => e.commandId === late[0]?.id || e.commandId === late[1]?.id)).toEqual([]);
    expect(configs.map((c) => c.seq)).not.toContain(adopted.seq - 1);
    expect(rx.config?.adopted).toBe(false);
    await h.controller.publishAsync(h.t.receiverConfig(rx.id), '', { qos: 1, retain: true });
  });

  it('applies a retained config (zone subscriptions included) before announcing "online"', async () => {
    const id = h.nextId();
    const config = await h.configure(id, { adopted: true, zones: ['village-9'], volume: 40 });
    const rx = await h.receiver({ id, configGraceMs: 5000 });
    expect(rx.config).toEqual(config);
    expect(rx.volume).toBe(40);
    const status = await watch<Status>(await h.client(), h.t.receiverStatus(id));
    expect(await status.waitFor((m) => m.state === 'online')).toMatchObject({ volume: 40 });
    // Right after "online", a zone command reaches it.
    const cmd = h.play(h.audio.add(wav(730, 250), 1000));
    await h.send(h.t.zoneCommand('village-9'), cmd);
    await rx.waitForEvent(is(cmd.id, 'finished'));
    await h.controller.publishAsync(h.t.receiverConfig(id), '', { qos: 1, retain: true });
  });

  it('goOffline leaves the will with the same session; goOnline comes back with a higher one', async () => {
    const rx = await h.receiver({ initialSession: 41 });
    expect(rx.session).toBe(41);
    const statusTopic = h.t.receiverStatus(rx.id);
    const live = await watch<Status>(await h.client(), statusTopic);
    await live.waitFor((m) => m.state === 'online' && m.session === 41);

    await rx.goOffline();
    expect(rx.state).toBe('offline');
    const retained = await watch<Status>(await h.client(), statusTopic);
    const will = await retained.waitFor((m) => m.state === 'offline');
    expect(will.session).toBe(41);

    await rx.goOnline();
    expect(rx.session).toBe(42);
    const back = await live.waitFor((m) => m.state === 'online' && m.session > 41);
    expect(back).toMatchObject({ session: 42, firmware: 'loalang-sim/0.1', signal: { link: '4g' } });
    const fresh = await watch<Status>(await h.client(), statusTopic);
    expect(await fresh.waitFor(() => true)).toMatchObject({ state: 'online', session: 42 });
  });

  it('keeps playing while offline and delivers the events after reconnecting', async () => {
    const rx = await h.receiver();
    const session = rx.session;
    const wire = await watch<ReceiverEvent>(h.controller, h.t.receiverEvent(rx.id));
    const cmd = h.play(h.audio.add(wav(710, 250), 30_000)); // 300 ms
    await h.send(rx, cmd);
    await wire.waitFor((m) => m.commandId === cmd.id && m.state === 'started');
    await rx.goOffline();
    await rx.waitForEvent(is(cmd.id, 'finished'));
    expect(wire.messages.some((m) => m.state === 'finished')).toBe(false);
    await rx.goOnline();
    const finished = await wire.waitFor((m) => m.commandId === cmd.id && m.state === 'finished');
    expect(finished.session).toBe(session);
  });

  it('heartbeats carry a snapshot of nowPlaying, volume and cache; stop() leaves "offline" retained', async () => {
    const rx = await h.receiver({ heartbeatMs: 50 });
    const statusTopic = h.t.receiverStatus(rx.id);
    const live = await watch<Status>(await h.client(), statusTopic);
    const file = h.audio.add(wav(720, 250), 20_000);
    const cmd = h.play(file);
    await h.send(rx, cmd);
    const playing = await live.waitFor((m) => m.nowPlaying?.commandId === cmd.id);
    expect(playing.nowPlaying).toMatchObject({ bulletinId: cmd.bulletinId, priority: 'normal', play: 1 });
    await rx.waitForEvent(is(cmd.id, 'finished'));
    const idle = await live.waitFor(
      (m) => m.nowPlaying === null && (m.cached ?? []).includes(file.audio.sha256),
    );
    expect(idle.volume).toBe(70);
    await live.waitFor(() => live.messages.length >= 6); // heartbeats

    await rx.stop();
    expect(rx.state).toBe('offline');
    const retained = await watch<Status>(await h.client(), statusTopic);
    expect(await retained.waitFor((m) => m.state === 'offline')).toMatchObject({ session: rx.session });
  });

  it('starts a fleet with limited concurrency and reaches it all through a zone', async () => {
    const fleet = await startFleet({
      count: 12,
      idPrefix: 'fx',
      concurrency: 4,
      brokerUrl: h.brokerUrl,
      trustedKeys: h.trustedKeys,
      topicRoot: h.t.root,
      timeFactor: 0.01,
      configGraceMs: 20,
      configure: (id) => h.credentials(id),
    });
    try {
      expect(fleet.receivers.map((r) => r.id).slice(0, 2)).toEqual(['fx-01', 'fx-02']);
      expect(fleet.receivers.every((r) => r.state === 'online')).toBe(true);
      for (const rx of fleet.receivers) {
        const c = await h.configure(rx, { adopted: true, zones: ['commune'] });
        await rx.waitForConfig((got) => got.seq === c.seq);
      }
      const cmd = h.play(h.audio.add(wav(900, 250), 1000), { priority: 'emergency' });
      await h.send(h.t.zoneCommand('commune'), cmd);
      await Promise.all(fleet.receivers.map((rx) => rx.waitForEvent(is(cmd.id, 'finished'))));
    } finally {
      await fleet.stop();
      for (const rx of fleet.receivers) {
        await h.controller.publishAsync(h.t.receiverConfig(rx.id), '', { qos: 1, retain: true });
      }
    }
    expect(fleet.receivers.every((r) => r.state === 'offline')).toBe(true);
  });
});

describe.skipIf(!mosquittoAvailable())('SimReceiver (Mosquitto)', () => {
  let mosquitto: MosquittoHandle | undefined;
  let h: SimHarness | undefined;
  beforeAll(async () => {
    mosquitto = await startMosquitto();
    h = await new SimHarness({ brokerUrl: mosquitto.url }).start();
  });
  afterAll(async () => {
    await h?.close();
    await mosquitto?.stop();
  });

  it('plays a bulletin end to end and leaves its will on an abrupt loss', async () => {
    if (!h) throw new Error('harness not started');
    const rx = await h.receiver();
    const file = h.audio.add(wav(440, 250));
    const cmd = h.play(file, { repeat: 2 });
    await h.send(rx, cmd);
    await rx.waitForEvent(is(cmd.id, 'finished'));
    expect(states(rx, cmd.id)).toEqual([
      'received',
      'downloading',
      'ready',
      'started',
      'started',
      'finished',
    ]);
    expect(rx.played[0]?.sha256).toBe(sha256(file.bytes));

    const session = rx.session;
    await rx.goOffline();
    const retained = await watch<Status>(await h.client(), h.t.receiverStatus(rx.id));
    expect(await retained.waitFor((m) => m.state === 'offline')).toMatchObject({ session });
    expect(h.protocolErrors).toEqual([]);
  });
});
