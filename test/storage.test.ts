import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../src/storage/db.js';
import { migrations } from '../src/storage/migrations.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('storage', () => {
  it('migrates a fresh database file to the latest version with WAL and foreign keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'loalang-db-'));
    dirs.push(dir);
    const db = openDatabase(join(dir, 'loalang.db'));
    const latest = Math.max(...migrations.map((m) => m.version));
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const tables = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .all()
      .map((r) => (r as { name: string }).name);
    expect(tables).toEqual(
      expect.arrayContaining(['audio', 'bulletins', 'deliveries', 'receivers', 'users', 'zones', 'audit']),
    );
    // A second run applies nothing.
    expect(migrate(db)).toEqual([]);
    db.close();
  });

  it('enforces foreign keys', () => {
    const db = openDatabase(':memory:');
    expect(() =>
      db
        .prepare(`INSERT INTO receivers (id, name, zone_id, created_at) VALUES ('r1', 'r1', 'nowhere', 'x')`)
        .run(),
    ).toThrow(/FOREIGN KEY/);
    db.close();
  });
});
