/**
 * Every case of the kit, in the order they run (cheap, stateless checks first; link cuts, key
 * rotation, and the checks over the whole run's packets last).
 */
import type { ConformanceCase } from '../types.js';
import { connectCases } from './connect.js';
import { downloadCases } from './download.js';
import { configCases, keyCases } from './keys.js';
import { linkCases } from './link.js';
import { playCases } from './play.js';
import { priorityCases } from './priority.js';
import { rebootCases } from './reboot.js';
import { renditionCases } from './renditions.js';
import { scheduleCases } from './schedule.js';
import { stopCases } from './stop.js';
import { timeCases } from './time.js';
import { verifyCases } from './verify.js';
import { wireFirstCases, wireLastCases } from './wire.js';

export const ALL_CASES: readonly ConformanceCase[] = [
  ...connectCases,
  ...wireFirstCases,
  ...verifyCases,
  ...playCases,
  // priority, preemption, resume, stops, downloads, volume
  ...priorityCases,
  ...stopCases,
  ...downloadCases,
  // schedules, time, renditions
  ...scheduleCases,
  ...timeCases,
  ...renditionCases,
  // link cuts, the retained config, power cycles, then key rotation (it changes the controller's keys)
  ...linkCases,
  ...configCases,
  ...rebootCases,
  ...keyCases,
  // over everything the receiver sent during the run
  ...wireLastCases,
];
