/**
 * The conformance kit's link proxy (src/conformance/proxy.ts): dropping the broker's QoS 0
 * publishes on one topic leaves everything else of the stream intact — other topics, QoS 1 on
 * the same topic, packets split over many TCP chunks — and ends with `stop()`.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LinkProxy, packetFilter, startLinkProxy } from '../src/conformance/proxy.js';

let aedes: Aedes;
let server: Server;
let port = 0;
let proxy: LinkProxy;
let heard: MqttClient;
let talker: MqttClient;
const got: { topic: string; size: number; qos: number }[] = [];
/** called at each message `heard` gets (publishAndWait's waiter) */
let arrived: () => void = () => {};

beforeAll(async () => {
  aedes = await Aedes.createBroker();
  server = createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  proxy = await startLinkProxy({ target: () => ({ host: '127.0.0.1', port }) });
  heard = await mqtt.connectAsync(proxy.url, { clientId: 'heard', reconnectPeriod: 0 });
  heard.on('message', (topic, payload, packet) => {
    got.push({ topic, size: payload.length, qos: packet.qos });
    arrived();
  });
  await heard.subscribeAsync({ 'p/a': { qos: 1 }, 'p/b': { qos: 1 } });
  talker = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'talker', reconnectPeriod: 0 });
});

afterAll(async () => {
  await heard?.endAsync();
  await talker?.endAsync();
  await proxy?.close();
  await new Promise<void>((r) => aedes.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
});

/** Publishes, then waits until `heard` got `n` messages in all. */
async function publishAndWait(msgs: [string, Buffer, 0 | 1][], n: number): Promise<void> {
  const all = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5000);
    arrived = () => {
      if (got.length < n) return;
      clearTimeout(timer);
      resolve();
    };
  });
  for (const [topic, payload, qos] of msgs) await talker.publishAsync(topic, payload, { qos });
  await all;
  arrived = () => {};
  // what should not come has had its chance too
  await new Promise((r) => setTimeout(r, 100));
}

it('drops QoS 0 publishes on its topic only, until stopped', async () => {
  const big = Buffer.alloc(300_000, 7);
  const drop = proxy.dropPublishes('p/a');
  await publishAndWait(
    [
      ['p/a', Buffer.from('one'), 0],
      ['p/b', big, 0],
      ['p/a', Buffer.from('two'), 0],
      ['p/a', Buffer.from('kept: QoS 1'), 1],
      ['p/b', Buffer.from('three'), 0],
    ],
    3,
  );
  expect(got).toEqual([
    { topic: 'p/b', size: big.length, qos: 0 },
    { topic: 'p/a', size: 11, qos: 1 },
    { topic: 'p/b', size: 5, qos: 0 },
  ]);
  expect(drop.dropped()).toBe(2);
  drop.stop();
  got.length = 0;
  await publishAndWait([['p/a', Buffer.from('after'), 0]], 1);
  expect(got).toEqual([{ topic: 'p/a', size: 5, qos: 0 }]);
  expect(drop.dropped()).toBe(2);
  // The connection is whole: it still subscribes and hears.
  await heard.subscribeAsync({ 'p/c': { qos: 0 } });
  got.length = 0;
  await publishAndWait([['p/c', Buffer.from('c'), 0]], 1);
  expect(got.map((g) => g.topic)).toEqual(['p/c']);
});

it('cuts a stream into whole packets however it is split, and relays what is not MQTT as it is', () => {
  const pub = (topic: string, qos: 0 | 1, size: number) =>
    mqttPacket.generate({
      cmd: 'publish',
      topic,
      qos,
      ...(qos > 0 ? { messageId: 7 } : {}),
      payload: Buffer.alloc(size, 1),
      retain: false,
      dup: false,
    });
  const stream = Buffer.concat([
    pub('p/a', 0, 200),
    pub('p/b', 0, 20_000),
    pub('p/a', 0, 5),
    pub('p/a', 1, 3),
  ]);
  // each whole packet handed to `drop`, read back by mqtt-packet's own parser
  const dropA = (p: Buffer) => {
    let drop = false;
    const parser = mqttPacket.parser();
    parser.on('packet', (x) => {
      drop = x.cmd === 'publish' && x.qos === 0 && x.topic === 'p/a';
    });
    parser.parse(p);
    return drop;
  };
  const filter = packetFilter(dropA);
  const out = Buffer.concat([...stream].map((b) => filter(Buffer.from([b]))));
  expect(out).toEqual(Buffer.concat([pub('p/b', 0, 20_000), pub('p/a', 1, 3)]));
  // a remaining length of more than 4 bytes is not MQTT: from there on, everything passes
  const plain = packetFilter(() => true);
  const junk = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 9, 9]);
  expect(
    Buffer.concat([plain(junk.subarray(0, 3)), plain(junk.subarray(3)), plain(Buffer.from([5]))]),
  ).toEqual(Buffer.concat([junk, Buffer.from([5])]));
});
