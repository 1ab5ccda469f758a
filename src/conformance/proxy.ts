/**
 * The link between the receiver under test and the broker, run by the kit: a TCP relay whose
 * address goes into the receiver's provisioning bundle, so that the kit can cut the receiver's
 * link the way a 4G outage does — whatever the receiver is (a simulator, a box on the bench) and
 * whatever the broker — and see what the receiver does across the cut.
 *
 * - `cut('close')`: every relayed connection is closed (both sides see the TCP connection end) and
 *   new ones are refused until `restore()`; the broker publishes the receiver's last will.
 * - `cut('blackhole')`: the connections stay open but nothing crosses in either direction (a
 *   radio link that died without a word); new connections are accepted and held. The receiver
 *   notices only by its keep-alive. `restore()` then closes the held connections (their bytes
 *   are lost, as on a dead link), so both sides start afresh.
 *
 * - `dropPublishes(topic)`: the QoS 0 PUBLISH packets the broker sends the receiver on that topic
 *   are dropped (the rest of the stream passes byte for byte) until its `stop()`: a message lost
 *   on the way down, the kind QoS 0 allows (a time reply, §14.1), while the link stays up.
 *
 * It also reads what the receiver sends as MQTT packets (mqtt-packet's parser, the one mqtt.js and
 * aedes use), so that the kit sees its CONNECT (client id, last will, keep-alive), what it
 * subscribes to and where it publishes, whatever the broker — Mosquitto shows none of that.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export type CutMode = 'close' | 'blackhole';

/** A packet the receiver sent (payloads cut to 2 KiB), with when and on which connection. */
export interface SentPacket {
  atMs: number;
  /** 1 for the first connection through the proxy, 2 for the next… */
  connection: number;
  packet: Packet;
}

export interface LinkProxy {
  /** mqtt://127.0.0.1:<port>: what the receiver is told to connect to */
  url: string;
  port: number;
  /** the state of the link */
  state(): 'up' | CutMode;
  cut(mode?: CutMode): void;
  restore(): void;
  /** connections accepted so far (a reconnection is one more) */
  accepted(): number;
  /** connections open now */
  open(): number;
  /** what the receiver sent, as MQTT packets, in order */
  sent(): readonly SentPacket[];
  /**
   * Drops the PUBLISH packets at QoS 0 that the broker sends the receiver on exactly `topic`, on
   * every connection, until `stop()`. Only QoS 0: a QoS 1 or 2 packet would have to be
   * acknowledged, so those pass. A PUBLISH that names its topic by an MQTT 5 alias only (an
   * empty topic) is not recognised and passes.
   */
  dropPublishes(topic: string): PublishDrop;
  close(): Promise<void>;
}

export interface PublishDrop {
  /** packets dropped so far */
  dropped(): number;
  stop(): void;
}

interface Pair {
  inner: Socket;
  outer: Socket | null;
}

/**
 * Cuts the broker's byte stream into MQTT packets (fixed header: the type byte, then the
 * remaining length in 1–4 bytes, [MQTT-2.2.3]) and passes on all but those `drop` refuses.
 * Bytes that are not MQTT turn it into a plain relay for the rest of the connection.
 */
export function packetFilter(drop: (packet: Buffer) => boolean): (chunk: Buffer) => Buffer {
  let rest: Buffer = Buffer.alloc(0);
  let plain = false;
  return (chunk) => {
    if (plain) return chunk;
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
    const kept: Buffer[] = [];
    let at = 0;
    while (at < buf.length) {
      let length = 0;
      let mult = 1;
      let i = at + 1;
      for (; i < buf.length && i < at + 5; i++) {
        const b = buf[i]!;
        length += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) break;
      }
      if (i >= at + 5) {
        plain = true;
        kept.push(buf.subarray(at));
        at = buf.length;
        break;
      }
      if (i >= buf.length || i + 1 + length > buf.length) break;
      const end = i + 1 + length;
      const packet = buf.subarray(at, end);
      if (!drop(packet)) kept.push(packet);
      at = end;
    }
    rest = Buffer.from(buf.subarray(at));
    return kept.length === 1 ? kept[0]! : Buffer.concat(kept);
  };
}

/** The topic of a QoS 0 PUBLISH packet (whole, fixed header included), else null. */
function qos0PublishTopic(packet: Buffer): string | null {
  const type = packet[0]! >> 4;
  const qos = (packet[0]! >> 1) & 3;
  if (type !== 3 || qos !== 0) return null;
  let i = 1;
  while (packet[i]! & 0x80) i++;
  i++;
  if (i + 2 > packet.length) return null;
  const len = packet.readUInt16BE(i);
  return packet.subarray(i + 2, i + 2 + len).toString('utf8');
}

export async function startLinkProxy(opts: {
  /** where to relay to: called at each connection (the broker's port may be known only later) */
  target: () => { host: string; port: number };
  host?: string;
}): Promise<LinkProxy> {
  const host = opts.host ?? '127.0.0.1';
  let state: 'up' | CutMode = 'up';
  let accepted = 0;
  const pairs = new Set<Pair>();
  const t0 = Date.now();
  const sent: SentPacket[] = [];
  const MAX_PACKETS = 20_000;
  /** topic → packets dropped so far, while its drop lasts */
  const drops = new Map<string, { count: number }>();
  const isDropped = (packet: Buffer) => {
    if (drops.size === 0) return false;
    const topic = qos0PublishTopic(packet);
    const d = topic === null ? undefined : drops.get(topic);
    if (d) d.count++;
    return d !== undefined;
  };

  const drop = (p: Pair) => {
    pairs.delete(p);
    p.inner.destroy();
    p.outer?.destroy();
  };

  const server: Server = createServer((inner) => {
    inner.setNoDelay(true);
    if (state === 'close') {
      inner.destroy();
      return;
    }
    accepted++;
    const connection = accepted;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      // An MQTT 5 client says so in its CONNECT: the rest is read as version 5.
      if (packet.cmd === 'connect' && packet.protocolVersion === 5)
        (parser as unknown as { settings: { protocolVersion: number } }).settings.protocolVersion = 5;
      if ('payload' in packet && Buffer.isBuffer(packet.payload) && packet.payload.length > 2048)
        packet.payload = packet.payload.subarray(0, 2048);
      if (sent.length < MAX_PACKETS) sent.push({ atMs: Date.now() - t0, connection, packet });
    });
    parser.on('error', () => {
      // not MQTT (or cut mid-packet): the relay goes on, the reading stops for this connection
      parser.removeAllListeners('packet');
    });
    const pair: Pair = { inner, outer: null };
    pairs.add(pair);
    inner.on('error', () => drop(pair));
    inner.on('close', () => drop(pair));
    // Held, not relayed, while the link is a black hole: bytes sent now are lost.
    inner.on('data', (chunk) => {
      parser.parse(chunk);
      if (state === 'up' && pair.outer) pair.outer.write(chunk);
    });
    if (state === 'blackhole') return;
    relay(pair);
  });

  function relay(pair: Pair): void {
    const { host: th, port: tp } = opts.target();
    const outer = tcpConnect({ host: th, port: tp });
    outer.setNoDelay(true);
    pair.outer = outer;
    // Whole packets, so that a drop (dropPublishes) can leave one out whenever it begins.
    const filter = packetFilter(isDropped);
    // Until the broker's side is up, what the receiver sent waits in the socket's buffer.
    pair.inner.pause();
    outer.once('connect', () => pair.inner.resume());
    outer.on('data', (chunk: Buffer) => {
      const out = filter(chunk);
      if (state === 'up' && out.length > 0) pair.inner.write(out);
    });
    outer.on('error', () => drop(pair));
    outer.on('close', () => drop(pair));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;

  return {
    url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    state: () => state,
    cut(mode = 'close') {
      state = mode;
      if (mode === 'close') for (const p of [...pairs]) drop(p);
    },
    restore() {
      const was = state;
      state = 'up';
      // A black hole lost bytes both ways: those connections cannot carry on.
      if (was === 'blackhole') for (const p of [...pairs]) drop(p);
    },
    accepted: () => accepted,
    open: () => pairs.size,
    sent: () => sent,
    dropPublishes(topic) {
      const d = { count: 0 };
      drops.set(topic, d);
      return {
        dropped: () => d.count,
        stop: () => {
          if (drops.get(topic) === d) drops.delete(topic);
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of [...pairs]) drop(p);
        server.close(() => resolve());
      }),
  };
}
