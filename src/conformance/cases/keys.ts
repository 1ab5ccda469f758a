/**
 * §6 and §7.6: the retained config (only a verified config with a seq not below the applied one
 * changes anything; an empty retained payload changes nothing) and the controller's key rotation
 * (a new key learnt from the config, the old one dropped when retired, a key rotated while the
 * receiver was away learnt before it says online).
 *
 * The config cases watch what a config would change that can be seen from outside: its zone and
 * all-receiver subscriptions (a config with `adopted: false` drops them). Rotation changes the
 * controller's keys for the rest of the run: these run last; `ctx.commandKey()` follows.
 */
import { randomUUID } from 'node:crypto';
import type { ReceiverConfig } from '../../contract/mqtt.js';
import { type SigningKey, seal } from '../../contract/signing.js';
import type { CaseContext } from '../context.js';
import { type ConformanceCase, check } from '../types.js';
import { hears, untilHeard } from './link.js';

interface KeysOverview {
  current: string;
  rotation: 'idle' | 'announced' | 'switched';
  keys: { kid: string; state: string }[];
}

/** A config that would un-adopt the receiver, were it applied. */
function unadopting(ctx: CaseContext, seq = ctx.controller.wire.nextSeq()): ReceiverConfig {
  return { v: 1, seq, issuedAt: new Date().toISOString(), adopted: false, zones: [] };
}

/**
 * After a config the receiver must ignore: handled in order (a barrier), then it must still hear
 * its zone and all/cmd. The controller's own retained config is republished afterwards, whatever
 * happened, so that later cases find the receiver as it was.
 */
async function stillAdopted(ctx: CaseContext): Promise<void> {
  try {
    await ctx.barrier();
    const t = ctx.rx.topics;
    const h = await hears(ctx, [t.zoneCmd, t.allCmd]);
    check(h, 'it did not confirm the barrier on its own topic');
    for (const [topic, ok] of h) {
      check(ok, `it no longer hears ${topic}: it applied the config it had to ignore`);
      ctx.saw(`still hears ${topic}`);
    }
  } finally {
    await republishConfig(ctx);
  }
}

/** The controller publishes the receiver's retained config again (a rename does), heard again. */
async function republishConfig(ctx: CaseContext): Promise<void> {
  const r = await ctx.api('PATCH', `/api/receivers/${ctx.rx.id}`, { name: 'Receiver under test' });
  if (r.status !== 200) throw new Error(`the kit could not republish the config: ${r.status}`);
  ctx.note("the controller's retained config republished (PATCH name)");
  await untilHeard(ctx, ctx.rx.topics.zoneCmd, 10_000);
}

async function overview(ctx: CaseContext): Promise<KeysOverview> {
  const r = await ctx.api<KeysOverview>('GET', '/api/system/signing-keys');
  if (r.status !== 200) throw new Error(`GET /api/system/signing-keys: ${r.status}`);
  return r.body;
}

/** POST …/rotate or …/retire; the kit's own failure (not the receiver's) when refused. */
async function keysCall(ctx: CaseContext, what: 'rotate' | 'retire', body: object): Promise<KeysOverview> {
  const r = await ctx.api<KeysOverview>('POST', `/api/system/signing-keys/${what}`, body);
  if (r.status !== 200)
    throw new Error(`POST /api/system/signing-keys/${what}: ${r.status} ${JSON.stringify(r.body)}`);
  ctx.sent(`POST /api/system/signing-keys/${what} ${JSON.stringify(body)} → rotation ${r.body.rotation}`);
  return r.body;
}

/** Ends a rotation left by an earlier case, so that the next one starts from one key. */
async function idleRotation(ctx: CaseContext): Promise<void> {
  let o = await overview(ctx);
  if (o.rotation === 'announced') o = await keysCall(ctx, 'rotate', { force: true, waitSeconds: 0 });
  if (o.rotation === 'switched') await keysCall(ctx, 'retire', { force: true });
}

/** The receiver's first report on command `id` since `from`. */
async function firstReport(ctx: CaseContext, id: string, from: number): Promise<Record<string, unknown>> {
  const m = await ctx.seen.waitFor(
    `its report on command ${id}`,
    (x) => x.leaf === 'event' && x.json?.commandId === id,
    { from, timeoutMs: 10_000 },
  );
  return m.json!;
}

const said = (e: Record<string, unknown>) => `${String(e.state)}${e.reason ? `/${String(e.reason)}` : ''}`;

export const configCases: ConformanceCase[] = [
  {
    id: 'config.stale_seq',
    failsWith: 'ignore-config-seq',
    section: '§6',
    level: 'MUST',
    title: 'a genuine config with a seq below the one applied is ignored (here: it would un-adopt)',
    timeoutMs: 30_000,
    run: async (ctx) => {
      const stale = ctx.controller.wire.nextSeq();
      // A genuine config above it: the controller's own, republished now.
      await republishConfig(ctx);
      await ctx.send(ctx.rx.topics.config, unadopting(ctx, stale));
      ctx.note(`that config (adopted: false) has seq ${stale}, below the config it applied last`);
      await stillAdopted(ctx);
    },
  },
  {
    id: 'config.empty',
    failsWith: 'obey-empty-config',
    section: '§6',
    level: 'MUST',
    title: 'an empty retained config (a cleared topic, unsigned) is ignored: it stays adopted',
    timeoutMs: 30_000,
    run: async (ctx) => {
      await ctx.publishRaw(ctx.rx.topics.config, '', { retain: true });
      await stillAdopted(ctx);
    },
  },
  {
    id: 'config.wrong_topic',
    failsWith: 'accept-config-wrong-topic',
    section: '§6; §7.1 steps 1–5',
    level: 'MUST',
    title: "a config genuinely signed for another receiver's config topic is ignored here",
    timeoutMs: 30_000,
    run: async (ctx) => {
      const other = ctx.controller.wire.topics.receiverConfig('kit-other-rx');
      await ctx.send(ctx.rx.topics.config, unadopting(ctx), { wrongTopic: other });
      await stillAdopted(ctx);
    },
  },
];

export const keyCases: ConformanceCase[] = [
  {
    id: 'keys.rotate',
    failsWith: 'ignore-key-rotation',
    section: '§7.6 step 2; §6 (keys)',
    level: 'MUST',
    title: 'after a key rotation it trusts the new key: a command signed with it plays',
    timeoutMs: 40_000,
    run: async (ctx) => {
      await idleRotation(ctx);
      const oldKid = ctx.commandKey().kid;
      const from = ctx.seen.mark();
      let o = await keysCall(ctx, 'rotate', { waitSeconds: 5 });
      const newKid = o.keys.find(
        (k) => k.kid !== oldKid && (k.state === 'current' || k.state === 'next'),
      )?.kid;
      if (!newKid) throw new Error('the rotation made no new key');
      const both = ctx.seen
        .all(from)
        .find(
          (m) =>
            m.leaf === 'status' &&
            Array.isArray(m.json?.keys) &&
            (m.json.keys as unknown[]).includes(newKid) &&
            (m.json.keys as unknown[]).includes(oldKid),
        );
      if (both) ctx.saw(`status lists both keys: ${JSON.stringify(both.json?.keys)}`);
      else ctx.note(`no status listed both ${oldKid} and ${newKid} (§6: it SHOULD republish its status)`);
      if (o.rotation !== 'switched') {
        ctx.note(
          'the controller did not switch (the receiver did not report the new key): forcing the switch',
        );
        o = await keysCall(ctx, 'rotate', { force: true, waitSeconds: 0 });
      }
      check(
        ctx.commandKey().kid === newKid,
        `the controller signs with ${ctx.commandKey().kid}, not ${newKid}`,
      );
      const play = await ctx.play();
      const at = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, play);
      const e = await firstReport(ctx, play.id, at);
      // received, or started at once when the audio is cached (§7.3 step 1): anything but a refusal.
      check(
        e.state !== 'rejected' && e.state !== 'expired',
        `a play signed with the new key ${newKid}: its first report was ${said(e)}`,
      );
      await ctx.seen.waitForEvent(play.id, 'started', { from: at, timeoutMs: 15_000 });
      ctx.saw(`the play signed with ${newKid} started`);
    },
  },
  {
    id: 'keys.retire',
    failsWith: 'keep-retired-key',
    section: '§7.6 step 4; §6 (keys replace the trusted set)',
    level: 'MUST',
    title: 'once the old key is retired, a command signed with it is refused: rejected/unknown_key',
    timeoutMs: 40_000,
    run: async (ctx) => {
      // A rotation of its own, so that the kit holds the old key's private half.
      await idleRotation(ctx);
      const oldKey: SigningKey = ctx.commandKey();
      await keysCall(ctx, 'rotate', { waitSeconds: 8, force: true });
      const from = ctx.seen.mark();
      const o = await ctx.api<KeysOverview>('POST', '/api/system/signing-keys/retire', {});
      ctx.sent(`POST /api/system/signing-keys/retire → ${o.status}`);
      if (o.status !== 200) {
        ctx.note('retire refused (the receiver is not known to trust the new key): forcing it');
        await keysCall(ctx, 'retire', { force: true });
      }
      // The retiring config lists the new key alone; a status without the old key shows it taken.
      const dropped = await ctx.seen
        .waitFor(
          `a status without ${oldKey.kid}`,
          (m) =>
            m.leaf === 'status' &&
            Array.isArray(m.json?.keys) &&
            !(m.json.keys as unknown[]).includes(oldKey.kid),
          { from, timeoutMs: 3000 },
        )
        .catch(() => null);
      if (dropped) ctx.saw(`status keys now ${JSON.stringify(dropped.json?.keys)}`);
      else await ctx.barrier();
      const play = await ctx.play();
      const at = ctx.seen.mark();
      const topic = ctx.rx.topics.cmd;
      ctx.sent(`play ${play.id} on ${topic}, signed with the retired key ${oldKey.kid}`);
      await ctx.controller.wire.publish(topic, seal(oldKey, topic, play), { qos: 1, retain: false });
      const e = await firstReport(ctx, play.id, at);
      ctx.saw(`first report: ${said(e)}`);
      check(
        e.state === 'rejected' && e.reason === 'unknown_key',
        `a command signed with the retired key ${oldKey.kid}: expected rejected/unknown_key, got ${said(e)}`,
      );
    },
  },
  {
    id: 'keys.rotated_while_away',
    failsWith: 'online-before-config',
    section: '§2 start-up order step 2; §7.6 step 2 (a receiver offline meanwhile)',
    level: 'MUST',
    title: 'a key rotated while it was away is learnt before it says online: a command sent at once is taken',
    needs: ['link'],
    timeoutMs: 40_000,
    run: async (ctx) => {
      await idleRotation(ctx);
      const oldKid = ctx.commandKey().kid;
      const before = ctx.session();
      check(before !== null, 'no online status with a session seen');
      const from = ctx.seen.mark();
      ctx.link.cut('close');
      ctx.note('link cut (close)');
      await ctx.seen.waitFor(
        '"offline" status (the last will)',
        (m) => m.leaf === 'status' && m.json?.state === 'offline',
        { from, timeoutMs: 10_000 },
      );
      // Nobody online to wait for: the controller switches at once.
      await keysCall(ctx, 'rotate', { waitSeconds: 0 });
      const newKid = ctx.commandKey().kid;
      check(newKid !== oldKid, 'the controller did not switch to a new key');
      ctx.link.restore();
      ctx.note(`link restored; commands are now signed with ${newKid}`);
      await ctx.online({ after: before, timeoutMs: 15_000 });
      const stop = ctx.stop({ bulletinId: randomUUID() });
      const at = ctx.seen.mark();
      await ctx.send(ctx.rx.topics.cmd, stop);
      const e = await firstReport(ctx, stop.id, at);
      ctx.saw(`first report on the stop sent the moment it said online: ${said(e)}`);
      check(
        e.state === 'received',
        `a command signed with ${newKid}, sent the moment it said online, got ${said(e)}: it announced itself before taking the key set of its retained config`,
      );
    },
  },
];
