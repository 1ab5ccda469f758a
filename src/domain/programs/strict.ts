/**
 * A strict copy of a zod schema: every object in it, however deep, refuses keys it does not know.
 *
 * Site files are written by hand, and a misspelt key (`recurence:`, `dasy:`) must be an error, not a
 * program that quietly airs every day. The shared program schema (./schema.ts) is left as it is for
 * the API; the files use this copy. The unknown-key message lists the keys that are allowed and
 * suggests the nearest one.
 *
 * Walks zod 4's schema definitions (`_zod.def`) and rebuilds each wrapper with `clone(def)`, which
 * keeps refinements (`checks`) and transforms. Kinds it does not know are kept unchanged.
 */
import { z } from 'zod';

type AnySchema = z.ZodType;
// biome-ignore lint/suspicious/noExplicitAny: zod's definitions are internal; this walks them generically
type Def = Record<string, any>;

const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const cloneWith = <T extends AnySchema>(s: T, def: Def): T =>
  (s as unknown as { clone(def: Def): T }).clone(def);

/** Returns a copy of `schema` in which every object is strict. */
export function deepStrict<T extends AnySchema>(schema: T): T {
  return walk(schema, new WeakMap()) as T;
}

function walk(s: AnySchema, seen: WeakMap<AnySchema, AnySchema>): AnySchema {
  const done = seen.get(s);
  if (done) return done;
  const def = defOf(s);
  const w = (x: AnySchema) => walk(x, seen);
  let out: AnySchema;
  switch (def.type) {
    case 'object': {
      const shape: Record<string, AnySchema> = {};
      for (const [k, v] of Object.entries(def.shape as Record<string, AnySchema>)) shape[k] = w(v);
      const allowed = Object.keys(shape);
      out = cloneWith(s, {
        ...def,
        shape,
        catchall: z.never(),
        error: (iss: { code: string; keys?: string[] }) =>
          iss.code === 'unrecognized_keys' && iss.keys ? unknownKeyMessage(iss.keys, allowed) : undefined,
      });
      break;
    }
    case 'array':
      out = cloneWith(s, { ...def, element: w(def.element) });
      break;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      out = cloneWith(s, { ...def, innerType: w(def.innerType) });
      break;
    case 'pipe':
      out = cloneWith(s, { ...def, in: w(def.in), out: w(def.out) });
      break;
    case 'union':
      out = cloneWith(s, { ...def, options: (def.options as AnySchema[]).map(w) });
      break;
    case 'intersection':
      out = cloneWith(s, { ...def, left: w(def.left), right: w(def.right) });
      break;
    case 'record':
      out = cloneWith(s, { ...def, valueType: w(def.valueType) });
      break;
    case 'tuple':
      out = cloneWith(s, { ...def, items: (def.items as AnySchema[]).map(w), rest: def.rest && w(def.rest) });
      break;
    default:
      out = s;
  }
  seen.set(s, out);
  return out;
}

/** `unknown key "dasy" — did you mean "days"? Allowed here: kind, days, every, at, from, …` */
export function unknownKeyMessage(keys: string[], allowed: string[]): string {
  const parts = keys.map((k) => {
    const near = nearest(k, allowed);
    return `unknown key "${k}"` + (near ? ` (did you mean "${near}"?)` : '');
  });
  return `${parts.join('; ')}. Allowed here: ${allowed.join(', ')}`;
}

/** The allowed key closest to `key` by edit distance, if it is close enough to be a typo. */
function nearest(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const a of allowed) {
    const d = distance(key.toLowerCase(), a.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** Levenshtein distance with adjacent transpositions (bounded inputs: keys are short). */
function distance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
