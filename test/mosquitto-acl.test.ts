/**
 * The documented production broker setup works: Mosquitto with passwords and the ACL from
 * docs/mosquitto/loalang.acl, the controller logging in with MQTT_USERNAME/MQTT_PASSWORD, and
 * receivers logging in as themselves.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustedKeys, SimReceiver } from '../firmware-sim/index.js';
import { topics } from '../src/contract/mqtt.js';
import { startTestController, type TestController } from './helpers/controller.js';
import { type MosquittoHandle, mosquittoAvailable, startMosquitto } from './helpers/mosquitto.js';
import { waitFor } from './helpers/wait.js';

const ACL = new URL('../docs/mosquitto/loalang.acl', import.meta.url);
const users: Record<string, string> = {
  'loalang-controller': 'controller-secret-1',
  'rx-01': 'rx-01-secret',
  'rx-02': 'rx-02-secret',
};

describe.skipIf(!mosquittoAvailable() || !hasPasswd())(
  'Mosquitto with passwords and the documented ACL',
  () => {
    let dir: string;
    let m: MosquittoHandle;
    let tc: TestController;
    const t = topics();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'loalang-acl-'));
      const passwd = join(dir, 'passwd');
      writeFileSync(passwd, '');
      for (const [u, p] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', passwd, u, p]);
      const acl = join(dir, 'acl');
      writeFileSync(acl, readFileSync(ACL));
      // Started as root, Mosquitto drops to its own user: let it read the files.
      chmodSync(dir, 0o755);
      chmodSync(passwd, 0o644);
      chmodSync(acl, 0o644);
      m = await startMosquitto(['allow_anonymous false', `password_file ${passwd}`, `acl_file ${acl}`]);
      tc = await startTestController({
        MQTT_URL: m.url,
        MQTT_USERNAME: 'loalang-controller',
        MQTT_PASSWORD: users['loalang-controller']!,
      });
      await tc.api('POST', '/api/zones', { id: 'thon-1', name: 'Thôn 1' });
      // rx-01 logs in with the password its registration issued (it is also its HTTP Basic
      // password for audio downloads): into the password file, and Mosquitto reloads it.
      const rx01 = await tc.register('rx-01', 'thon-1');
      users['rx-01'] = rx01.mqtt.password;
      execFileSync('mosquitto_passwd', ['-b', passwd, 'rx-01', rx01.mqtt.password]);
      process.kill(m.pid, 'SIGHUP');
      await tc.api('POST', '/api/receivers', { id: 'rx-02', zoneId: 'thon-1' });
    });
    afterAll(async () => {
      await tc?.stop();
      await m?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const receiver = async (id: string, password: string) =>
      new SimReceiver({
        id,
        brokerUrl: m.url,
        username: id,
        password,
        trustedKeys: await fetchTrustedKeys(`${tc.url}/api/system/signing-key`),
        timeFactor: 0.05,
        startTimeoutMs: 5000,
        // until Mosquitto has reloaded its password file
        refusedRetryMs: 100,
      });

    it('plays a bulletin through the locked-down broker', async () => {
      const rx = await receiver('rx-01', users['rx-01']!);
      try {
        await rx.start();
        await rx.waitForConfig((c) => c.adopted);
        const tone = readFileSync(new URL('./fixtures/audio/tone.ogg', import.meta.url));
        const audioId = (await tc.upload(tone, 'tin.ogg')).audio.id;
        const b = await tc.api<{ id: string }>('POST', '/api/bulletins', { audioId, target: { all: true } });
        await rx.waitForEvent((e) => e.bulletinId === b.body.id && e.state === 'finished', 10_000);
        await waitFor('recorded done', async () => {
          const res = await tc.api<{ deliveries: { receiverId: string; state: string }[] }>(
            'GET',
            `/api/bulletins/${b.body.id}`,
          );
          return res.body.deliveries.find((d) => d.receiverId === 'rx-01')?.state === 'done';
        });
      } finally {
        await rx.stop();
      }
    });

    it('refuses a wrong password, and drops a receiver’s publish on another receiver’s topic', async () => {
      await expect(
        mqtt.connectAsync(m.url, {
          clientId: 'rx-02',
          username: 'rx-02',
          password: 'wrong',
          reconnectPeriod: 0,
        }),
      ).rejects.toThrow(/Not authorized|Bad username or password/);

      const spoofer = await mqtt.connectAsync(m.url, {
        clientId: 'rx-02',
        username: 'rx-02',
        password: users['rx-02']!,
        reconnectPeriod: 0,
      });
      const status = (session: number) =>
        JSON.stringify({ v: 1, state: 'offline', session, ts: new Date().toISOString() });
      // rx-02 pretends rx-01 went offline (denied by the ACL), then reports its own status (allowed).
      await spoofer.publishAsync(t.receiverStatus('rx-01'), status(9_999_999_999), { qos: 1, retain: true });
      await spoofer.publishAsync(
        t.receiverStatus('rx-02'),
        JSON.stringify({ v: 1, state: 'online', session: 5, ts: new Date().toISOString() }),
        { qos: 1 },
      );
      await waitFor('rx-02 online', () => tc.isOnline('rx-02'));
      const rx01 = await tc.api<{ session: number | null }>('GET', '/api/receivers/rx-01');
      expect(rx01.body.session).not.toBe(9_999_999_999);
      await spoofer.endAsync();
    });
  },
);

function hasPasswd(): boolean {
  try {
    execFileSync('mosquitto_passwd', ['-h'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // mosquitto_passwd -h exits non-zero after printing its usage; ENOENT means it is missing.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
