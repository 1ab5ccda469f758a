/**
 * Before the suite: the phone app's browser tests need it built (dist/web). Builds it when it is
 * missing or older than any of its sources, so a test never drives a stale app.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('../src/web/app', import.meta.url));
const BUILT = fileURLToPath(new URL('../dist/web/index.html', import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default async function setup(): Promise<void> {
  // the app's folder, and the files outside it that it imports (named in its tsconfig, plain JSON)
  const { include } = JSON.parse(readFileSync(join(APP, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const outside = include.filter((p) => p.startsWith('..')).map((p) => statSync(join(APP, p)).mtimeMs);
  const sources = Math.max(newest(APP), ...outside);
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: join(APP, 'vite.config.ts'), logLevel: 'warn' });
}
