/**
 * Where a process spent its CPU: a summary of a V8 CPU profile written by `npm run bench -- --cpu-prof <dir>`.
 *
 *   npx tsx bench/profile.ts <dir>/controller-mosquitto-1000 \
 *     --windows <dir>/windows-mosquitto-1000.json --phase loalang
 *
 * With --windows, only the samples taken inside the bench's timed windows of that phase count (the
 * profile's clock and process.hrtime are the same monotonic clock). Prints self time by package or
 * source file, and the project functions (src/, firmware-sim/) with the most inclusive time.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const profileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  startTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
const windowsSchema = z.record(z.string(), z.array(z.tuple([z.number(), z.number()])));

/** The package (node_modules), source file (project) or V8 bucket a frame belongs to. */
function category(url: string, fn: string): string {
  if (!url) return fn || '(anonymous)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return `pkg ${parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const project = /\/(src|firmware-sim|bench|test)\/(.*)$/.exec(url);
  return project ? `${project[1]}/${project[2]}` : url;
}

/**
 * `path` itself, or for a directory the main thread's profile in it (Node names them
 * CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; the main thread is 0).
 */
function mainThreadProfile(path: string | undefined): string | undefined {
  if (!path || !statSync(path).isDirectory()) return path;
  const main = readdirSync(path).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (!main) throw new Error(`no main-thread profile (CPU.*.<pid>.0.*.cpuprofile) in ${path}`);
  return join(path, main);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      windows: { type: 'string' },
      phase: { type: 'string', default: 'loalang' },
      top: { type: 'string', default: '20' },
    },
  });
  const file = mainThreadProfile(positionals[0]);
  if (!file) {
    console.error(
      'usage: npx tsx bench/profile.ts <file.cpuprofile | profile dir> [--windows <windows.json> --phase loalang|floor]',
    );
    process.exit(2);
  }
  const top = Number(values.top);
  const profile = profileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const windows = values.windows
    ? (windowsSchema.parse(JSON.parse(readFileSync(values.windows, 'utf8')))[values.phase] ?? [])
    : null;

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const weight = profile.timeDeltas[i + 1] ?? 0;
    if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    const node = byId.get(profile.samples[i] ?? -1);
    if (!node) continue;
    const { url, functionName } = node.callFrame;
    if (functionName === '(idle)') {
      idle += weight;
      continue;
    }
    total += weight;
    const cat = category(url, functionName);
    self.set(cat, (self.get(cat) ?? 0) + weight);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame || !/\/(src|firmware-sim)\//.test(frame.url)) continue;
      const key = `${frame.functionName || '(anonymous)'}  ${category(frame.url, '')}:${frame.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + weight);
    }
  }

  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1).padStart(5)}%`;
  const scope = windows ? `${windows.length} "${values.phase}" windows` : 'the whole run';
  console.log(`${file}: ${ms(total).trim()} ms busy, ${ms(idle).trim()} ms idle in ${scope}`);
  console.log('\nself time by package / file:');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${ms(v)} ms ${pct(v)}  ${k}`);
  console.log('\ninclusive time, project functions:');
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms(v)} ms ${pct(v)}  ${k}`);
  }
}

main();
