/**
 * Every case of the kit, in the order they run (cheap, stateless checks first; link cuts and
 * restarts last).
 */
import type { ConformanceCase } from '../types.js';
import { connectCases } from './connect.js';
import { configCases, keyCases } from './keys.js';
import { linkCases } from './link.js';
import { playCases } from './play.js';
import { verifyCases } from './verify.js';

export const ALL_CASES: readonly ConformanceCase[] = [
  ...connectCases,
  ...verifyCases,
  ...playCases,
  // cf-link: link cuts, then the retained config, then key rotation (it changes the keys) last
  ...linkCases,
  ...configCases,
  ...keyCases,
];
