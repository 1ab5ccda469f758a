/**
 * Mosquitto's password and ACL files, generated from loalang's own records so that an external
 * Mosquitto enforces the same rules as the embedded broker (src/mqtt/acl.ts):
 *
 * - the password file holds the controller's user (MQTT_USERNAME, its MQTT_PASSWORD hashed) and
 *   every live receiver credential, hash as stored (`$7$`, Mosquitto's own PBKDF2-SHA512 format);
 * - the ACL file gives the controller `readwrite <root>/#` and each receiver a `user <id>` block of
 *   exact topics. Revoked credentials and removed receivers are absent from both files.
 *
 * Mosquitto's `acl_file` never refuses a SUBSCRIBE (the SUBACK grants it): it checks `read` when it
 * delivers each message, and `write` at each PUBLISH. Both checks use the ACL loaded at that
 * moment, so after a reload a receiver moved to another zone hears the new zone at once, and one
 * whose rights were taken away hears nothing more. On reload (SIGHUP) Mosquitto 2 also checks every
 * connected client's password again and disconnects those whose user is gone or whose password
 * changed. docs/mosquitto/README.md says how to deploy this.
 *
 * The writer (`startMosquittoFilesWriter`) rewrites both files at start and, debounced, whenever
 * the fleet says a receiver's broker rights changed (`access`), then asks Mosquitto to reload.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Topics } from '../contract/mqtt.js';
import { type CredentialRow, createDeviceCredentials, mosquittoHash } from '../domain/fleet/credentials.js';
import { createFleetRepo, type Receiver } from '../domain/fleet/repo.js';
import type { Db } from '../storage/db.js';
import { type MqttPrincipal, publishableTopics, subscribableTopics } from './acl.js';

/** What both files are made from. */
export interface MosquittoFilesInput {
  topics: Topics;
  /** the controller's user; `passwordHash` from `mosquittoHash(MQTT_PASSWORD)` */
  controller: { username: string; passwordHash: string } | null;
  /** live credentials (revoked ones are ignored if passed) */
  credentials: readonly Pick<CredentialRow, 'receiverId' | 'username' | 'passwordHash' | 'revokedAt'>[];
  /** every receiver the fleet knows; a credential without its receiver is left out */
  receivers: readonly Pick<Receiver, 'id' | 'adoption' | 'zoneId'>[];
}

export interface MosquittoFiles {
  passwd: string;
  acl: string;
  /** receiver ids left out, and why (a username the files cannot hold, the controller's name) */
  skipped: { receiverId: string; reason: string }[];
}

/** Usernames either file can hold: no whitespace, no ':' (password file), no control characters. */
const SAFE_USERNAME = /^[^\s:#\p{Cc}]{1,128}$/u;
/** What loalang itself writes as a hash: `$7$<iterations>$<salt b64>$<hash b64>`. */
const SAFE_HASH = /^\$7\$\d{1,7}\$[A-Za-z0-9+/=]{1,100}\$[A-Za-z0-9+/=]{1,200}$/;

/** The receivers that get a user, each with its rights; sorted by username. */
function receiverUsers(input: MosquittoFilesInput) {
  const byId = new Map(input.receivers.map((r) => [r.id, r]));
  const users: { username: string; passwordHash: string; principal: MqttPrincipal & { kind: 'receiver' } }[] =
    [];
  const skipped: MosquittoFiles['skipped'] = [];
  for (const c of input.credentials) {
    if (c.revokedAt) continue;
    const r = byId.get(c.receiverId);
    if (!r) continue; // removed receiver: its credentials are dead
    if (!SAFE_USERNAME.test(c.username) || !SAFE_HASH.test(c.passwordHash)) {
      skipped.push({
        receiverId: c.receiverId,
        reason: 'username or hash not representable in Mosquitto files',
      });
      continue;
    }
    if (input.controller && c.username === input.controller.username) {
      skipped.push({ receiverId: c.receiverId, reason: "username is the controller's" });
      continue;
    }
    users.push({
      username: c.username,
      passwordHash: c.passwordHash,
      principal: {
        kind: 'receiver',
        receiverId: r.id,
        adopted: r.adoption === 'adopted',
        zoneId: r.zoneId,
      },
    });
  }
  users.sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0));
  return { users, skipped };
}

function checkController(input: MosquittoFilesInput): void {
  const c = input.controller;
  if (c && !SAFE_USERNAME.test(c.username)) {
    throw new Error(
      `MQTT_USERNAME "${c.username}" cannot go into a Mosquitto password or ACL file: ` +
        'use letters, digits and punctuation other than ":" and "#", without spaces',
    );
  }
}

/** Both files, from the same snapshot. Deterministic: the same input gives the same bytes. */
export function generateMosquittoFiles(input: MosquittoFilesInput): MosquittoFiles {
  checkController(input);
  const t = input.topics;
  const { users, skipped } = receiverUsers(input);
  const header = [
    '# Generated by loalang from its database: do not edit (it is rewritten whenever a receiver is',
    '# registered, moved, removed or its credentials change). See docs/mosquitto/README.md.',
  ];

  const passwd: string[] = [];
  if (input.controller) passwd.push(`${input.controller.username}:${input.controller.passwordHash}`);
  for (const u of users) passwd.push(`${u.username}:${u.passwordHash}`);

  const acl: string[] = [...header, ''];
  if (input.controller) {
    acl.push('# the controller', `user ${input.controller.username}`, `topic readwrite ${t.root}/#`, '');
  }
  for (const u of users) {
    const p = u.principal;
    acl.push(`# ${p.adopted ? `zone ${p.zoneId ?? '(none)'}` : 'pending adoption'}`, `user ${u.username}`);
    for (const topic of subscribableTopics(t, p)) acl.push(`topic read ${topic}`);
    for (const topic of publishableTopics(t, p)) acl.push(`topic write ${topic}`);
    acl.push('');
  }
  // The password file carries no comment: it is only ever `user:hash` lines.
  return { passwd: passwd.map((l) => `${l}\n`).join(''), acl: acl.join('\n'), skipped };
}

/** One ACL of Mosquitto's dynamic-security plugin. */
interface DynsecAcl {
  acltype: 'publishClientSend' | 'publishClientReceive' | 'subscribeLiteral' | 'subscribePattern';
  topic: string;
  allow: boolean;
  priority: number;
}

/** `$7$<iterations>$<salt>$<hash>` as the plugin stores a password: the same PBKDF2-SHA512. */
function dynsecPassword(hash: string): { password: string; salt: string; iterations: number } {
  const [, , iterations, salt, password] = hash.split('$');
  return { password: password!, salt: salt!, iterations: Number(iterations) };
}

/**
 * The same rules as a configuration file for Mosquitto's dynamic-security plugin
 * (`plugin_opt_config_file`), for a one-off import: the plugin owns that file afterwards and
 * changes go through `mosquitto_ctrl dynsec …` (docs/mosquitto/README.md). Unlike `acl_file`, the
 * plugin refuses a forbidden SUBSCRIBE (SUBACK 0x80) and `disableClient` kicks a live session.
 *
 * Roles: `loalang-controller` (the whole root); `loalang-receivers` (the all-receivers topic, for
 * adopted receivers); `loalang-zone-<zone>` (a zone's topic); `loalang-rx-<id>` (the receiver's own
 * topics). The plugin of Mosquitto 2.0 does not substitute `%u` in ACLs, hence one role per receiver.
 * `admin`, when given, gets the `$CONTROL/dynamic-security/#` rights `mosquitto_ctrl` needs.
 */
export function generateDynsecConfig(
  input: MosquittoFilesInput,
  admin: { username: string; passwordHash: string } | null = null,
): { json: string; skipped: MosquittoFiles['skipped'] } {
  checkController(input);
  const t = input.topics;
  const { users, skipped } = receiverUsers(input);
  const read = (topic: string, literal = true): DynsecAcl[] => [
    { acltype: literal ? 'subscribeLiteral' : 'subscribePattern', topic, allow: true, priority: 0 },
    { acltype: 'publishClientReceive', topic, allow: true, priority: 0 },
  ];
  const write = (topic: string): DynsecAcl => ({
    acltype: 'publishClientSend',
    topic,
    allow: true,
    priority: 0,
  });
  const roles: { rolename: string; textdescription: string; acls: DynsecAcl[] }[] = [];
  const clients: Record<string, unknown>[] = [];
  const shared = new Set([t.allCommand()]);
  const zones = new Set<string>();

  if (input.controller) {
    roles.push({
      rolename: 'loalang-controller',
      textdescription: 'the loalang controller: everything under the topic root',
      acls: [...read(`${t.root}/#`, false), write(`${t.root}/#`)],
    });
    clients.push({
      username: input.controller.username,
      textname: 'loalang controller',
      roles: [{ rolename: 'loalang-controller' }],
      ...dynsecPassword(input.controller.passwordHash),
    });
  }
  if (admin) {
    const topic = '$CONTROL/dynamic-security/#';
    roles.push({
      rolename: 'loalang-dynsec-admin',
      textdescription: 'administers clients and roles with mosquitto_ctrl',
      acls: [...read(topic, false), write(topic)],
    });
    clients.push({
      username: admin.username,
      roles: [{ rolename: 'loalang-dynsec-admin' }],
      ...dynsecPassword(admin.passwordHash),
    });
  }
  roles.push({
    rolename: 'loalang-receivers',
    textdescription: 'every adopted receiver: the all-receivers command topic',
    acls: read(t.allCommand()),
  });
  for (const u of users) {
    const p = u.principal;
    const own = subscribableTopics(t, p).filter(
      (topic) => !shared.has(topic) && topic !== t.zoneCommand(p.zoneId ?? ''),
    );
    roles.push({
      rolename: `loalang-rx-${p.receiverId}`,
      textdescription: `receiver ${p.receiverId}: its own topics`,
      acls: [...own.flatMap((topic) => read(topic)), ...publishableTopics(t, p).map(write)],
    });
    const clientRoles = [{ rolename: `loalang-rx-${p.receiverId}` }];
    if (p.adopted) {
      clientRoles.push({ rolename: 'loalang-receivers' });
      if (p.zoneId) {
        zones.add(p.zoneId);
        clientRoles.push({ rolename: `loalang-zone-${p.zoneId}` });
      }
    }
    clients.push({
      username: u.username,
      textname: p.adopted ? `receiver, zone ${p.zoneId ?? '(none)'}` : 'receiver, pending adoption',
      roles: clientRoles,
      ...dynsecPassword(u.passwordHash),
    });
  }
  for (const z of [...zones].sort()) {
    roles.push({
      rolename: `loalang-zone-${z}`,
      textdescription: `receivers of zone ${z}: its command topic`,
      acls: read(t.zoneCommand(z)),
    });
  }
  const config = {
    // Nothing is allowed that a role does not allow; unsubscribing always is.
    defaultACLAccess: {
      publishClientSend: false,
      publishClientReceive: false,
      subscribe: false,
      unsubscribe: true,
    },
    clients,
    groups: [],
    roles,
  };
  return { json: `${JSON.stringify(config, null, 2)}\n`, skipped };
}

/** Reads what the files are made of from the database (for the writer and the CLI). */
export function mosquittoInputLoader(
  db: Db,
  topics: Topics,
  controller: MosquittoFilesInput['controller'],
): () => MosquittoFilesInput {
  const credentials = createDeviceCredentials(db);
  const repo = createFleetRepo(db);
  return () => ({ topics, controller, credentials: credentials.live(), receivers: repo.listReceivers() });
}

/** The controller's user for the files, from MQTT_USERNAME and MQTT_PASSWORD (hashed once). */
export function controllerUser(
  config: Pick<Config, 'MQTT_USERNAME' | 'MQTT_PASSWORD'>,
  needPassword: boolean,
): MosquittoFilesInput['controller'] {
  if (!config.MQTT_USERNAME || (needPassword && !config.MQTT_PASSWORD)) {
    throw new Error(
      'generating Mosquitto files needs MQTT_USERNAME' +
        (needPassword ? ' and MQTT_PASSWORD' : '') +
        " (the controller's own user in those files)",
    );
  }
  // Without a password file only the ACL is written, and the hash is never used.
  return { username: config.MQTT_USERNAME, passwordHash: mosquittoHash(config.MQTT_PASSWORD ?? '') };
}

/**
 * Starts the writer when MOSQUITTO_PASSWORD_FILE or MOSQUITTO_ACL_FILE is set; null otherwise.
 * Writes the files once before returning.
 */
export function startMosquittoFilesFromConfig(opts: {
  config: Config;
  db: Db;
  topics: Topics;
  events: MosquittoFilesWriterOptions['events'];
  log: Logger;
}): MosquittoFilesWriter | null {
  const { config } = opts;
  if (!config.MOSQUITTO_PASSWORD_FILE && !config.MOSQUITTO_ACL_FILE) return null;
  const controller = controllerUser(config, config.MOSQUITTO_PASSWORD_FILE !== undefined);
  return startMosquittoFilesWriter({
    passwordFile: config.MOSQUITTO_PASSWORD_FILE,
    aclFile: config.MOSQUITTO_ACL_FILE,
    pidFile: config.MOSQUITTO_PID_FILE,
    mode: config.MOSQUITTO_FILE_MODE,
    load: mosquittoInputLoader(opts.db, opts.topics, controller),
    events: opts.events,
    log: opts.log,
  });
}

/**
 * Replaces `path` with `content` atomically: a temporary file in the same directory, written,
 * flushed to disk, given `mode`, then renamed over the old one. Mosquitto (or a reader of the file)
 * sees the old file or the new one, never half of one. The file keeps the directory's group when
 * the directory is setgid, which is how Mosquitto's group gets to read a mode-0640 file.
 */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, mode); // the umask may have narrowed the mode given to open
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Asks Mosquitto to reload its configuration, password and ACL files: SIGHUP to the process id in
 * `pidFile` (Mosquitto's `pid_file`, e.g. /run/mosquitto/mosquitto.pid). Returns what happened,
 * never throws.
 */
export function signalMosquittoReload(
  pidFile: string,
): { ok: true; pid: number } | { ok: false; error: string } {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  } catch (err) {
    return { ok: false, error: `cannot read ${pidFile}: ${(err as Error).message}` };
  }
  if (!Number.isInteger(pid) || pid <= 1) return { ok: false, error: `${pidFile} holds no process id` };
  try {
    process.kill(pid, 'SIGHUP');
    return { ok: true, pid };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EPERM'
        ? 'not permitted: loalang runs as another user than Mosquitto (see docs/mosquitto/README.md for a systemd path unit that reloads it instead)'
        : code === 'ESRCH'
          ? 'no such process (a stale pid file?)'
          : (err as Error).message;
    return { ok: false, error: `SIGHUP to ${pid}: ${why}` };
  }
}

export interface MosquittoFilesWriterOptions {
  /** where to write each file; an unset one is not written */
  passwordFile?: string | undefined;
  aclFile?: string | undefined;
  /** Mosquitto's pid file; unset: the files are written but nobody is told */
  pidFile?: string | undefined;
  /** file mode, e.g. 0o640 */
  mode: number;
  /** reads a fresh snapshot */
  load(): MosquittoFilesInput;
  /** emits `access` (receiver id) whenever a receiver's broker rights change */
  events: { on(event: 'access', listener: (receiverId: string) => void): unknown };
  log: Logger;
  /** quiet time after the last `access` before writing (default 100 ms) */
  debounceMs?: number;
  /** longest a stream of changes may postpone the write (default 1 s) */
  maxDelayMs?: number;
}

export interface MosquittoFilesWriter {
  /** Writes both files now if their content changed, and signals a reload; returns whether it wrote. */
  writeNow(): boolean;
  /** How many times the files were written (for tests and diagnostics). */
  readonly writes: number;
  close(): void;
}

/**
 * Writes the files now and whenever the fleet emits `access`, debounced so that a bulk change
 * (adopting a hundred receivers) costs one write and one reload. Unchanged content is not
 * rewritten and Mosquitto is not bothered.
 */
export function startMosquittoFilesWriter(opts: MosquittoFilesWriterOptions): MosquittoFilesWriter {
  const { log } = opts;
  const debounceMs = opts.debounceMs ?? 100;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  let last: { passwd: string; acl: string } | null = null;
  let timer: NodeJS.Timeout | null = null;
  let firstPendingAt = 0;
  let closed = false;
  let writes = 0;

  function writeNow(): boolean {
    if (timer) clearTimeout(timer);
    timer = null;
    firstPendingAt = 0;
    const files = generateMosquittoFiles(opts.load());
    for (const s of files.skipped) {
      log.warn({ receiverId: s.receiverId, reason: s.reason }, 'mosquitto files: receiver left out');
    }
    if (last && last.passwd === files.passwd && last.acl === files.acl) return false;
    if (opts.passwordFile) writeFileAtomic(opts.passwordFile, files.passwd, opts.mode);
    if (opts.aclFile) writeFileAtomic(opts.aclFile, files.acl, opts.mode);
    last = { passwd: files.passwd, acl: files.acl };
    writes++;
    if (opts.pidFile) {
      const r = signalMosquittoReload(opts.pidFile);
      if (r.ok) log.info({ pid: r.pid }, 'mosquitto files written; Mosquitto asked to reload');
      else
        log.warn({ error: r.error }, 'mosquitto files written, but Mosquitto could not be asked to reload');
    } else {
      log.info('mosquitto files written (no MOSQUITTO_PID_FILE: reload Mosquitto yourself)');
    }
    return true;
  }

  function safeWrite(): void {
    try {
      writeNow();
    } catch (err) {
      log.error({ err }, 'mosquitto files: cannot write; the broker keeps the previous rules');
    }
  }

  opts.events.on('access', () => {
    if (closed) return;
    const now = Date.now();
    if (firstPendingAt === 0) firstPendingAt = now;
    if (timer) clearTimeout(timer);
    const wait = Math.max(0, Math.min(debounceMs, firstPendingAt + maxDelayMs - now));
    timer = setTimeout(safeWrite, wait);
    timer.unref();
  });

  // At start: changes made while the controller was down (a revocation from the CLI) apply now.
  writeNow();

  return {
    writeNow,
    get writes() {
      return writes;
    },
    close() {
      closed = true;
      // A change still waiting is written now, so that a revocation just before a stop holds.
      if (timer) safeWrite();
    },
  };
}
