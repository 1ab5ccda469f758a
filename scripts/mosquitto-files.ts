/**
 * `npm run mosquitto-files -- --out <dir>`: writes Mosquitto's password and ACL files for this
 * loalang deployment from its database, once (a first setup, or a broker set up by hand). A
 * running controller with MOSQUITTO_PASSWORD_FILE / MOSQUITTO_ACL_FILE keeps them current itself.
 *
 * Reads the same configuration as the controller (LOALANG_DATA_DIR, MQTT_USERNAME, MQTT_PASSWORD,
 * MQTT_TOPIC_ROOT, MOSQUITTO_FILE_MODE; environment or LOALANG_CONFIG). Writes `<dir>/loalang.passwd`
 * and `<dir>/loalang.acl`, the names docs/mosquitto/loalang.conf uses. Safe while the controller
 * runs (SQLite readers do not block it).
 *
 *   npm run mosquitto-files -- --out /etc/mosquitto/loalang [--reload /run/mosquitto/mosquitto.pid]
 *
 * With `--dynsec <file>` it writes instead a configuration file for Mosquitto's dynamic-security
 * plugin (one-off import; the plugin owns the file afterwards). `--dynsec-admin <user>` adds a user
 * for `mosquitto_ctrl`, whose password it reads from DYNSEC_ADMIN_PASSWORD (never from the command line).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config.js';
import { topics } from '../src/contract/mqtt.js';
import { mosquittoHash } from '../src/domain/fleet/credentials.js';
import {
  controllerUser,
  generateDynsecConfig,
  generateMosquittoFiles,
  mosquittoInputLoader,
  signalMosquittoReload,
  writeFileAtomic,
} from '../src/mqtt/mosquitto-files.js';
import { openDatabase } from '../src/storage/db.js';

function main(): number {
  const { values: args } = parseArgs({
    options: {
      out: { type: 'string' },
      reload: { type: 'string' },
      dynsec: { type: 'string' },
      'dynsec-admin': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (args.help || (!args.out && !args.dynsec)) {
    console.log(
      'usage: npm run mosquitto-files -- --out <dir> [--reload <mosquitto pid file>]\n' +
        '       npm run mosquitto-files -- --dynsec <file> [--dynsec-admin <user>]\n' +
        '  writes <dir>/loalang.passwd and <dir>/loalang.acl from the database in LOALANG_DATA_DIR;\n' +
        "  needs MQTT_USERNAME and MQTT_PASSWORD (the controller's user). --reload sends Mosquitto SIGHUP.\n" +
        "  --dynsec writes a dynamic-security plugin file instead (admin's password: DYNSEC_ADMIN_PASSWORD).",
    );
    return args.help ? 0 : 2;
  }
  const config = loadConfig();
  const dbFile = join(resolve(config.LOALANG_DATA_DIR), 'loalang.db');
  if (!existsSync(dbFile)) {
    console.error(`no loalang database at ${dbFile}: set LOALANG_DATA_DIR (or start the controller once)`);
    return 1;
  }
  const db = openDatabase(dbFile);
  try {
    const load = mosquittoInputLoader(db, topics(config.MQTT_TOPIC_ROOT), controllerUser(config, true));
    if (args.dynsec) {
      const adminUser = args['dynsec-admin'];
      const adminPassword = process.env.DYNSEC_ADMIN_PASSWORD;
      if (adminUser && !adminPassword) {
        console.error('--dynsec-admin needs the password in DYNSEC_ADMIN_PASSWORD');
        return 2;
      }
      const admin = adminUser ? { username: adminUser, passwordHash: mosquittoHash(adminPassword!) } : null;
      const dynsec = generateDynsecConfig(load(), admin);
      for (const s of dynsec.skipped) console.warn(`left out receiver ${s.receiverId}: ${s.reason}`);
      const file = resolve(args.dynsec);
      writeFileAtomic(file, dynsec.json, config.MOSQUITTO_FILE_MODE);
      console.log(`wrote ${file}: point plugin_opt_config_file at it (Mosquitto must be able to write it)`);
      if (!args.out) return 0;
    }
    const files = generateMosquittoFiles(load());
    for (const s of files.skipped) console.warn(`left out receiver ${s.receiverId}: ${s.reason}`);
    const out = resolve(args.out!);
    mkdirSync(out, { recursive: true });
    const passwd = join(out, 'loalang.passwd');
    const acl = join(out, 'loalang.acl');
    writeFileAtomic(passwd, files.passwd, config.MOSQUITTO_FILE_MODE);
    writeFileAtomic(acl, files.acl, config.MOSQUITTO_FILE_MODE);
    const users = files.passwd.split('\n').filter(Boolean).length;
    console.log(`wrote ${passwd} (${users} users) and ${acl}`);
    if (args.reload) {
      const r = signalMosquittoReload(args.reload);
      if (!r.ok) {
        console.error(r.error);
        return 1;
      }
      console.log(`Mosquitto (pid ${r.pid}) asked to reload`);
    }
    return 0;
  } finally {
    db.close();
  }
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : (err as Error).message);
  process.exitCode = 1;
}
