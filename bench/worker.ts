/**
 * A bench worker: a child process that holds part of the load, driven by bench/run.ts over IPC
 * (see bench/ipc.ts). Two kinds of load, one at a time:
 * - floor: raw mqtt.js clients, each subscribed (QoS 1) to the ping topic and answering every ping
 *   with a QoS 1 pong on its own topic — the least work an MQTT round trip to N clients can cost;
 * - fleet: firmware-sim receivers (startFleet), each adopted by the controller.
 * The worker exits when the parent goes away.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { type Fleet, fetchTrustedKeys, startFleet } from '../firmware-sim/index.js';
import { rawClientOptions, requestSchema, type WorkerReply, type WorkerRequest } from './ipc.js';

let floorClients: MqttClient[] = [];
let fleet: Fleet | null = null;
let protocolErrors = 0;

type Req<Op extends WorkerRequest['op']> = Extract<WorkerRequest, { op: Op }>;

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function floorStart(m: Req<'floorStart'>): Promise<void> {
  const clients: MqttClient[] = [];
  floorClients = clients;
  await mapLimit(m.clientIds, m.concurrency, async (clientId) => {
    const client = await connectAsync(m.url, rawClientOptions(clientId, m), false);
    clients.push(client);
    client.on('error', (err) => console.error(`bench worker: floor client ${clientId}: ${err.message}`));
    const pongTopic = `${m.pongPrefix}${clientId}`;
    const docTopic = m.docPrefix ? `${m.docPrefix}${clientId}` : null;
    const docPongTopic = `${m.docPongPrefix ?? m.pongPrefix}${clientId}`;
    // The pong carries the ping and this client's clock when it answered (same machine, same clock).
    client.on('message', (topic, payload) => {
      if (topic === docTopic) {
        // a document of the floor: answer with its first word (the round), as a receiver acknowledges
        const end = payload.indexOf(0x20);
        client.publish(docPongTopic, payload.subarray(0, end < 0 ? 64 : Math.min(end, 64)), { qos: 1 });
        return;
      }
      client.publish(pongTopic, `${payload.toString('utf8')} ${Date.now()}`, { qos: 1 });
    });
    const granted = await client.subscribeAsync(docTopic ? [m.pingTopic, docTopic] : m.pingTopic, { qos: 1 });
    if (granted.some((g) => g.qos !== 1))
      throw new Error(`${clientId}: ping subscription not granted at QoS 1`);
  });
}

async function floorStop(): Promise<void> {
  const clients = floorClients;
  floorClients = [];
  await Promise.all(
    clients.map((c) => bounded(c.endAsync(), 5000, 'floor disconnect').catch(() => c.end(true))),
  );
}

async function fleetStart(m: Req<'fleetStart'>): Promise<void> {
  if (fleet) throw new Error('a fleet is already running in this worker');
  const trustedKeys = await fetchTrustedKeys(m.keyUrl);
  fleet = await startFleet({
    count: m.ids.length,
    brokerUrl: m.brokerUrl,
    trustedKeys,
    timeFactor: m.timeFactor,
    concurrency: m.concurrency,
    // The controller validates every event anyway (and each round checks what it recorded); a
    // second zod pass per event in the simulator would only charge the shared cores for it.
    checkOwnPayloads: false,
    ...(m.codecs ? { codecs: m.codecs } : {}),
    // The ids the parent chose (`bn-0001`…), the same width in every worker, each logging in with
    // the credentials its registration issued.
    configure: (id, index) => {
      const rxId = m.ids[index] ?? id;
      return { id: rxId, username: rxId, password: m.passwords[index] };
    },
    onCreate: (rx) => {
      rx.on('protocolError', (message) => {
        protocolErrors += 1;
        console.error(`bench worker: ${rx.id}: protocol error: ${message}`);
      });
    },
  });
  const receivers = fleet.receivers;
  await Promise.all(receivers.map((rx) => rx.waitForConfig((c) => c.adopted, m.adoptTimeoutMs)));
}

async function fleetStop(): Promise<void> {
  const f = fleet;
  fleet = null;
  await f?.stop();
}

/**
 * Every receiver republishes its status every `ms` from now on, their phases spread evenly over
 * one period (as a real fleet's are: they came online at different moments), so the controller
 * sees a steady stream rather than N at once; resolves once all are re-armed.
 */
async function statusEvery(ms: number): Promise<void> {
  const receivers = fleet?.receivers ?? [];
  const period = Math.min(ms, 5000);
  const t0 = performance.now();
  for (const [i, rx] of receivers.entries()) {
    const due = t0 + (i / receivers.length) * period;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    rx.setHeartbeat(ms);
  }
}

/** sha256 → how many receivers played those bytes for `bulletinId`. */
function playedOf(bulletinId: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const rx of fleet?.receivers ?? []) {
    const entry = rx.played.find((p) => p.bulletinId === bulletinId);
    if (entry) out[entry.sha256] = (out[entry.sha256] ?? 0) + 1;
  }
  return out;
}

async function handle(msg: WorkerRequest): Promise<unknown> {
  switch (msg.op) {
    case 'playedOf':
      return playedOf(msg.bulletinId);
    case 'clearCache':
      for (const rx of fleet?.receivers ?? []) rx.clearCache();
      return undefined;
    case 'floorStart':
      return floorStart(msg);
    case 'floorStop':
      return floorStop();
    case 'fleetStart':
      return fleetStart(msg);
    case 'fleetStop':
      return fleetStop();
    case 'statusEvery':
      return statusEvery(msg.ms);
  }
}

function reply(r: WorkerReply): void {
  process.send?.(r);
}

process.on('message', (raw: unknown) => {
  const parsed = requestSchema.safeParse(raw);
  if (!parsed.success) {
    console.error(`bench worker: malformed request ignored: ${JSON.stringify(raw)}`);
    return;
  }
  const msg = parsed.data;
  handle(msg).then(
    (data) => reply({ type: 'ok', req: msg.req, protocolErrors, ...(data === undefined ? {} : { data }) }),
    (err: unknown) =>
      reply({
        type: 'error',
        req: msg.req,
        message: err instanceof AggregateError ? `${err.message}: ${String(err.errors[0])}` : String(err),
      }),
  );
});

// The parent is gone (finished, crashed or killed): leave nothing behind.
process.on('disconnect', () => {
  floorClients.forEach((c) => {
    c.end(true);
  });
  void bounded(fleetStop(), 5000, 'fleet stop')
    .catch(() => undefined)
    .finally(() => process.exit(0));
});

if (!process.send) {
  console.error('bench/worker.ts is started by bench/run.ts (npm run bench), not by hand');
  process.exit(2);
}
