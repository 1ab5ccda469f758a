/**
 * Starts loalang: `npm start`. Reads the configuration, starts the Controller, prints where it
 * listens, and stops cleanly on SIGINT/SIGTERM.
 */
import { ConfigError, loadConfig } from './config.js';
import { startController } from './controller.js';
import { createLogger } from './log.js';
import { BrokerPortInUseError } from './mqtt/broker.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`loalang: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  process.env.TZ = config.TZ;
  const log = createLogger(config.LOG_LEVEL);
  // Signals are handled from the first moment: one that arrives while the controller starts stops
  // it as soon as it is up, instead of killing the process half-way through.
  let controller: Awaited<ReturnType<typeof startController>> | null = null;
  let stopping: string | null = null;
  const shutdown = async (signal: string) => {
    if (stopping && controller === null) return;
    stopping = signal;
    if (!controller) return; // stopped right after the start
    log.info({ signal }, 'stopping');
    const c = controller;
    controller = null;
    await c.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // SIGHUP reloads the schedules folder (an invalid folder changes nothing, and says why in the log).
  process.on('SIGHUP', () => {
    controller?.site.reload().catch((err: unknown) => log.error({ err }, 'schedules folder reload failed'));
  });
  try {
    controller = await startController(config, log);
  } catch (err) {
    if (err instanceof BrokerPortInUseError) {
      log.fatal(err.message);
      console.error(`\nloalang: ${err.message}\n`);
      process.exit(3);
    }
    throw err;
  }
  const lines = [
    '',
    `  loalang is running`,
    `  HTTP API      ${controller.httpUrl}/api   (OpenAPI UI: ${controller.httpUrl}/docs)`,
    `  MQTT broker   ${controller.mqttUrl}${controller.broker ? '   (embedded)' : ''}`,
    `  Data          ${config.LOALANG_DATA_DIR}`,
  ];
  if (controller.setupCode) {
    lines.push(
      '',
      '  First run: there is no account yet. Open the app, choose "Thiết lập lần đầu" (First set-up),',
      '  enter this one-time code and choose the admin password (or set ADMIN_PASSWORD and restart):',
      `      ${controller.setupCode}      (app: ${controller.httpUrl}/)`,
    );
  }
  console.log(`${lines.join('\n')}\n`);

  if (stopping) await shutdown(stopping);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
