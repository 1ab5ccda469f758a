/**
 * One site file as text → its data, with a way back from a path inside the data to the line and
 * column where it was written. Used by ./site-files.ts; knows YAML and JSON, nothing about sites.
 *
 * JSON is read by the YAML parser too (JSON is YAML 1.2 in flow style), so both map paths to lines
 * the same way; a `.json` file must also pass `JSON.parse`, so comments or trailing commas that YAML
 * would forgive are reported. YAML is read as YAML 1.2 (core schema): `at: 05:00` is the text
 * "05:00" and `from: 2026-01-01` the text "2026-01-01", not a number or a date.
 */
import { isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';

export interface SourcePosition {
  line: number;
  column: number;
}

export interface SourceProblem extends SourcePosition {
  message: string;
}

export type ParsedSource =
  | {
      ok: true;
      data: unknown;
      /** where `path` was written: the node itself, else its nearest ancestor that exists */
      locate(path: readonly PropertyKey[]): SourcePosition & { exact: boolean; scalar?: unknown };
      /** where a key of the mapping at `path` was written (for unknown keys) */
      locateKey(path: readonly PropertyKey[], key: string): SourcePosition;
    }
  | { ok: false; problems: SourceProblem[] };

/** At most this many `*alias` expansions per file (guards against "billion laughs"). */
const MAX_ALIASES = 100;

export function parseSource(text: string, kind: 'yaml' | 'json'): ParsedSource {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (kind === 'json') {
    const problem = jsonProblem(src);
    if (problem) return { ok: false, problems: [problem] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(src, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.slice(0, 10).map((e) => ({
        line: e.linePos?.[0].line ?? 1,
        column: e.linePos?.[0].col ?? 1,
        message: `${kind === 'json' ? 'JSON' : 'YAML'} syntax: ${firstLine(e.message)}`,
      })),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    return { ok: false, problems: [{ line: 1, column: 1, message: `YAML: ${(e as Error).message}` }] };
  }
  const at = (offset: number): SourcePosition => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const start = (n: Node | null | undefined): SourcePosition => at(n?.range?.[0] ?? 0);
  const nodeAt = (path: readonly PropertyKey[]): unknown =>
    path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);

  return {
    ok: true,
    data,
    locate(path) {
      for (let n = path.length; n >= 0; n--) {
        const node = nodeAt(path.slice(0, n));
        if (node && typeof node === 'object' && 'range' in node) {
          const exact = n === path.length;
          return {
            ...start(node as Node),
            exact,
            ...(exact && isScalar(node) ? { scalar: node.value } : {}),
          };
        }
      }
      return { line: 1, column: 1, exact: false };
    },
    locateKey(path, key) {
      const map = nodeAt(path);
      if (isMap(map)) {
        const pair = map.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
        if (pair && isScalar(pair.key)) return start(pair.key);
        return start(map);
      }
      return this.locate(path);
    },
  };
}

/** The parser's message without its "at line L, column C:" suffix and the excerpt after it. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?\s*$/, '');
}

/**
 * A strict JSON syntax check, with the place of the first offending character as line and column.
 * V8 does not always say where (Node 20: "Unexpected token ']', …"), so the place is found by
 * bisection: a prefix that ends before the offending character fails only as "unexpected end" (or
 * parses), one that includes it fails otherwise. At most ~20 parses of a bounded file.
 */
function jsonProblem(text: string): SourceProblem | null {
  const failure = (s: string): string | null => {
    try {
      JSON.parse(s);
      return null;
    } catch (e) {
      return (e as Error).message;
    }
  };
  const whole = failure(text);
  if (whole === null) return null;
  const position = (m: string) => {
    const p = /at position (\d+)/.exec(m);
    return p ? Number(p[1]) : null;
  };
  // A prefix fails "at its end" when the text simply stops too early.
  const atEnd = (m: string | null, length: number) =>
    m === null || /unexpected end/i.test(m) || (position(m) ?? -1) >= length;
  let offset = position(whole) ?? text.length;
  if (position(whole) === null && !atEnd(whole, text.length)) {
    let lo = 0; // the prefix of length lo fails at its end (or parses)
    let hi = text.length; // the prefix of length hi holds the offending character
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (atEnd(failure(text.slice(0, mid)), mid)) lo = mid;
      else hi = mid;
    }
    offset = hi - 1;
  }
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  const found = text[offset];
  const message = atEnd(whole, text.length)
    ? 'the file ends before the JSON value does (a missing "}", "]" or quote?)'
    : `${whole.replace(/ in JSON at position \d+.*$|, .*is not valid JSON$/s, '').replace(/ after JSON at position \d+.*$/s, ' after the JSON value')}` +
      (found === undefined
        ? ''
        : ` (at ${JSON.stringify(found)}: a trailing comma, a comment, a missing quote?)`);
  return { line, column, message: `JSON syntax: ${message}` };
}
