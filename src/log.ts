/** The one logger factory: JSON lines (pino), human-readable on a terminal. */
import pino, { type Logger } from 'pino';

export function createLogger(level: string, pretty = process.stdout.isTTY === true): Logger {
  return pino({
    level,
    base: { app: 'loalang' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,app' },
          },
        }
      : {}),
  });
}
