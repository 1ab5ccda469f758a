/**
 * §2 and §5: the connection, the session number, the status it announces.
 */
import { statusSchema } from '../../contract/mqtt.js';
import { type ConformanceCase, check } from '../types.js';

export const connectCases: ConformanceCase[] = [
  {
    id: 'connect.status',
    failsWith: 'status-without-keys',
    section: '§5',
    level: 'MUST',
    title: 'its online status matches the contract (v 1, session, ts, and the optional fields well-formed)',
    run: async (ctx) => {
      const m = [...ctx.seen.all()].reverse().find((x) => x.leaf === 'status' && x.json?.state === 'online');
      check(m, 'no online status seen');
      const parsed = statusSchema.safeParse(m.json);
      ctx.saw(`status: ${m.text.slice(0, 300)}`);
      check(
        parsed.success,
        `the status is out of contract: ${parsed.success ? '' : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
      check(
        Array.isArray(m.json?.keys),
        'SHOULD-level field `keys` missing: key rotations cannot complete (§5)',
      );
    },
  },
];
