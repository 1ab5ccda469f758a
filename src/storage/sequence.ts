/**
 * The controller-wide command sequence (`seq` in every command and config). Receivers use it to
 * ignore a stop or config older than one they already applied, so it must never go backwards,
 * across restarts too: it is kept in `meta` and advanced in blocks to spare a write per command.
 */
import type { Db } from './db.js';

const BLOCK = 1000;

export interface Sequence {
  next(): number;
}

export function createSequence(db: Db): Sequence {
  const read = db.prepare<[], { value: string }>(`SELECT value FROM meta WHERE key = 'seq_reserved'`);
  const write = db.prepare(
    `INSERT INTO meta (key, value) VALUES ('seq_reserved', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
  );
  // Start past everything reserved before: a crash loses at most one unused block.
  let reserved = Number(read.get()?.value ?? 0);
  let current = reserved;
  return {
    next() {
      current += 1;
      if (current > reserved) {
        reserved = current + BLOCK;
        write.run(String(reserved));
      }
      return current;
    },
  };
}
