/**
 * The conformance kit's vocabulary: a case checks one clause of docs/protocol.md against the
 * receiver under test (a black box: the kit sees only what it publishes on the broker and what it
 * asks of the controller's HTTP API), and ends passed, failed or skipped with its evidence.
 */
import type { SimBreak } from '../../firmware-sim/breaks.js';
import type { CaseContext } from './context.js';

/** RFC 2119, as docs/protocol.md uses it: a receiver that fails a MUST is not conformant. */
export type Level = 'MUST' | 'SHOULD';

export type Outcome = 'pass' | 'fail' | 'skip';

export interface ConformanceCase {
  /** stable id, `area.what` (e.g. `verify.unsigned`); `--only` takes these */
  id: string;
  /** the clause it checks, as docs/protocol.md numbers it (e.g. `§7.1 step 3`) */
  section: string;
  level: Level;
  /** one line for the report: what a conformant receiver does */
  title: string;
  /**
   * what the case needs beyond the broker and the API: `restart` (the kit must be able to restart
   * the receiver: it launched it), `link` (the receiver connects through the kit's link proxy)
   */
  needs?: readonly ('restart' | 'link')[];
  /**
   * The deliberate violation of the reference simulator (firmware-sim/breaks.ts) that this case
   * must catch: the kit's own test runs the case against a simulator with it and expects a fail.
   */
  failsWith: SimBreak;
  /** an upper bound on the case's run time, ms (default 20 s) */
  timeoutMs?: number;
  /**
   * Runs the case. Returns normally when the receiver behaved (the evidence recorded on `ctx`
   * says how); throws `CaseFailed` (or any error) when it did not, `CaseSkipped` when the case
   * cannot be run against this receiver (say why).
   */
  run(ctx: CaseContext): Promise<void>;
}

export class CaseFailed extends Error {
  override name = 'CaseFailed';
}

export class CaseSkipped extends Error {
  override name = 'CaseSkipped';
}

/** One line of evidence: what the kit did or saw, with when (ms since the case began). */
export interface Evidence {
  atMs: number;
  /** `sent` (what the kit published or asked), `saw` (what the receiver published), `note` */
  kind: 'sent' | 'saw' | 'note';
  text: string;
}

export interface CaseResult {
  id: string;
  section: string;
  level: Level;
  title: string;
  outcome: Outcome;
  /** why it failed or was skipped */
  reason?: string;
  durationMs: number;
  evidence: Evidence[];
}

export interface ConformanceReport {
  /** the kit's own version and the protocol it checks */
  kit: { version: string; protocol: string };
  receiver: {
    id: string;
    /** from its `online` status */
    firmware: string | null;
    codecs: string[] | null;
  };
  broker: string;
  startedAt: string;
  finishedAt: string;
  results: CaseResult[];
  summary: {
    must: { pass: number; fail: number; skip: number };
    should: { pass: number; fail: number; skip: number };
    /** every MUST run passed and none was skipped */
    conformant: boolean;
  };
}

/** Fails the case with `message` unless `ok`. */
export function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new CaseFailed(message);
}
