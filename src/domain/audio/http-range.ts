/**
 * The small part of HTTP range and conditional requests (RFC 9110 §13, §14) the audio download
 * needs: one byte range (`a-b`, `a-`, `-n`), If-None-Match and If-Range against a strong ETag.
 * Pure functions; the route applies them.
 */

/** What to answer for a Range header on a representation of `size` bytes. */
export type RangeDecision =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

const SINGLE = /^bytes=(\d*)-(\d*)$/;

/**
 * Interprets `header` for `size` bytes (> 0). Anything that is not one syntactically valid
 * byte range — another unit, several ranges, `b < a`, garbage — is answered with the full
 * content, as RFC 9110 allows. `end` is inclusive.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' };
  const m = SINGLE.exec(header.replace(/\s+/g, ''));
  if (!m) return { kind: 'full' };
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return { kind: 'full' };
  if (a === '') {
    const suffix = Number(b);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return { kind: 'partial', start, end };
}

const entityTags = (header: string): string[] =>
  header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

/** If-None-Match (weak comparison): true when the client's copy is current → 304. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return entityTags(header).some((t) => t === '*' || t.replace(/^W\//, '') === etag);
}

/**
 * If-Range: the Range applies only when the validator is our strong ETag. A date or another tag
 * means "send everything" (we send no Last-Modified, so dates never match).
 */
export function ifRangeAllows(header: string | undefined, etag: string): boolean {
  return header === undefined || header.trim() === etag;
}
