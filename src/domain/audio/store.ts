/**
 * Audio files on disk, addressed by content: `<dataDir>/audio/<aa>/<sha256>`, where `aa` is the
 * first two hex digits. Uploads are first streamed to `<dataDir>/audio/.tmp/` (same file system,
 * so moving them in place is an atomic rename) while being hashed and counted.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A finished temp file: where it is, its hash and size, and whether the source was cut short. */
export interface TempUpload {
  path: string;
  sha256: string;
  size: number;
  /** the source reported a size limit (@fastify/multipart: `truncated` or a 'limit' event) */
  truncated: boolean;
}

const TEMP_MAX_AGE_MS = 3600_000;

/** Paths and file operations for the audio store under `dataDir`. */
export class AudioStore {
  readonly root: string;
  readonly tempDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'audio');
    this.tempDir = join(this.root, '.tmp');
    mkdirSync(this.tempDir, { recursive: true });
  }

  /** Where the file with this hash lives. */
  pathFor(sha256: string): string {
    return join(this.root, sha256.slice(0, 2), sha256);
  }

  /**
   * Streams `source` into a new temp file, hashing as it goes (never holding it whole in memory).
   * On any error the temp file is removed and the error rethrown.
   */
  async receive(source: NodeJS.ReadableStream): Promise<TempUpload> {
    const path = join(this.tempDir, `${randomUUID()}.part`);
    const hash = createHash('sha256');
    let size = 0;
    let limited = false;
    const onLimit = () => {
      limited = true;
    };
    source.on('limit', onLimit);
    const meter = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const out = createWriteStream(path, { flags: 'wx' });
    try {
      await pipeline(source, meter, out);
    } catch (err) {
      // The pipeline fails as soon as the source does, perhaps while the file is still being
      // opened: wait until the write stream has closed it, or it would appear after its removal.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      rmSync(path, { force: true });
      throw err;
    } finally {
      source.removeListener('limit', onLimit);
    }
    const truncated = limited || (source as { truncated?: unknown }).truncated === true;
    return { path, sha256: hash.digest('hex'), size, truncated };
  }

  /** Whether the file for `sha256` is present. */
  has(sha256: string): boolean {
    return existsSync(this.pathFor(sha256));
  }

  /** Moves a temp file to its content address (replacing an identical file, if any). */
  commit(tempPath: string, sha256: string): string {
    const dest = this.pathFor(sha256);
    mkdirSync(join(this.root, sha256.slice(0, 2)), { recursive: true });
    renameSync(tempPath, dest);
    return dest;
  }

  /** Removes the stored file for `sha256`, if present. */
  remove(sha256: string): void {
    rmSync(this.pathFor(sha256), { force: true });
  }

  /** Removes a temp file, if still present. */
  discard(tempPath: string): void {
    rmSync(tempPath, { force: true });
  }

  /** Removes temp files older than an hour: leftovers of a crash mid-upload. Returns how many. */
  sweepTemp(now = Date.now()): number {
    let n = 0;
    for (const name of readdirSync(this.tempDir)) {
      const p = join(this.tempDir, name);
      try {
        if (now - statSync(p).mtimeMs > TEMP_MAX_AGE_MS) {
          rmSync(p, { force: true, recursive: true });
          n++;
        }
      } catch {
        // vanished meanwhile
      }
    }
    return n;
  }
}
