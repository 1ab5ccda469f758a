/**
 * Loaded into the controller's own process by the schedule bench (`node --import tsx --import
 * ./bench/schedule-probe.ts src/server.ts`), so that it shares the controller's event loop
 * without any change to the controller: the two timer mechanisms the controller runs things at
 * set times with, each firing once a second, and how late each callback ran.
 *
 * - `cron`: a node-cron task with a seconds field (`* * * * * *`), as the schedule heartbeat is
 *   one (src/domain/programs/service.ts, every minute); lateness = callback time − the slot's
 *   instant (`context.date`).
 * - `at`: `at()` of src/time/clock.ts on the system clock (what the controller's clock-driven
 *   work uses), armed for every whole second + 500 ms; lateness = callback time − that instant.
 *
 * Samples go, one JSON line each (`{"m":"cron"|"at","t":<epoch ms>,"late":<ms>}`), to the file
 * named by BENCH_TIMER_PROBE_FILE; without it this module does nothing.
 */
import { appendFileSync } from 'node:fs';
import cron from 'node-cron';
import { at, systemClock, type Timer } from '../src/time/clock.js';

const file = process.env.BENCH_TIMER_PROBE_FILE;

/** Epoch ms with sub-millisecond precision (Date.now() counts whole ms). */
const nowMs = () => performance.timeOrigin + performance.now();

if (file) {
  const buffer: string[] = [];
  const record = (m: 'cron' | 'at', due: number) => {
    const t = nowMs();
    buffer.push(JSON.stringify({ m, t: Math.round(t), late: Math.round((t - due) * 100) / 100 }));
  };
  // Written twice a second in one go, outside the measured callbacks.
  const flush = setInterval(() => {
    if (buffer.length) appendFileSync(file, `${buffer.splice(0).join('\n')}\n`);
  }, 500);
  flush.unref();

  const task = cron.schedule('* * * * * *', (ctx) => record('cron', ctx.date.getTime()), {
    name: 'bench-timer-probe',
  });

  let timer: Timer | null = null;
  const arm = () => {
    const due = Math.floor(Date.now() / 1000) * 1000 + 1500;
    timer = at(systemClock, due, () => {
      record('at', due);
      arm();
    });
  };
  arm();

  process.once('SIGTERM', () => {
    void task.stop();
    timer?.cancel();
    clearInterval(flush);
    if (buffer.length) appendFileSync(file, `${buffer.splice(0).join('\n')}\n`);
  });
}
