/**
 * What a receiver says about its schedule, on `rx/<id>/airing` (QoS 1): built, checked against
 * `airingReportSchema` before it leaves, queued while offline and sent again after a reconnection
 * until the broker acknowledges it (at-least-once, like the command events), and recorded locally
 * for inspection.
 *
 * `at` is the moment it happened on the controller's time scale; `ts` is the receiver's own clock
 * when the report is (re)sent, stamped at each send.
 */
import type { MqttClient } from 'mqtt';
import { PROTOCOL_VERSION } from '../../src/contract/mqtt.js';
import { type AiringReport, airingReportSchema } from '../../src/contract/schedule.js';
import { iso } from '../util.js';

type AiringKind = Extract<AiringReport, { kind: 'airing' }>;
type ScheduleKind = Extract<AiringReport, { kind: 'schedule' }>;

/** The fields a report about one airing adds to `{v, kind, at, session, ts}`. */
export type AiringFields = Omit<AiringKind, 'v' | 'kind' | 'at' | 'session' | 'ts'>;
/** The fields a report about the schedule document adds. */
export type ScheduleFields = Omit<ScheduleKind, 'v' | 'kind' | 'session' | 'ts'>;

/** One report as the receiver keeps it locally: the report, and when it happened on the TRUE clock. */
export interface AiringRecord {
  report: AiringReport;
  kind: AiringReport['kind'];
  airingId?: string;
  version?: number;
  item?: number;
  state: AiringReport['state'];
  reason?: AiringReport['reason'];
  outcome?: AiringKind['outcome'];
  offsetMs?: number;
  sha256?: string;
  fallback?: boolean;
  resumed?: boolean;
  by?: string;
  /**
   * when it happened on the true time scale (receiver.clock.now()), ISO: for a timed report, the
   * instant its timer fired, whatever the reporting itself then cost
   */
  at: string;
}

export interface ReporterHost {
  /** the receiver's estimate of the controller's time */
  controllerNow(): number;
  /** the receiver's own clock */
  ownNow(): number;
  /** the true clock (the simulation's) */
  trueNow(): number;
  session(): number;
  /** check own payloads against the contract (default on) */
  check: boolean;
  /** a report was made (recorded locally) */
  recorded(record: AiringRecord): void;
  /** a report breaks the contract: a simulator bug */
  protocolError(message: string, payload: unknown): void;
}

interface Entry {
  report: AiringReport;
  /** connection generation it was last sent on; 0: not in flight */
  gen: number;
}

/** Builds, checks, records and queues airing reports. */
export class AiringReporter {
  readonly #entries = new Set<Entry>();
  readonly #records: AiringRecord[] = [];

  constructor(
    private readonly host: ReporterHost,
    private readonly capacity = 1000,
    private readonly historySize = 1000,
  ) {}

  /** Every report made, oldest first (bounded by historySize). */
  get records(): readonly AiringRecord[] {
    return this.#records;
  }

  /** Reports not yet acknowledged by the broker. */
  get pending(): number {
    return this.#entries.size;
  }

  /** `atMs`: when it happened (controller time), if not now: the instant a timer fired for it. */
  airing(fields: AiringFields, atMs?: number): void {
    const controllerNow = this.host.controllerNow();
    const trueNow = this.host.trueNow();
    this.#add(
      {
        v: PROTOCOL_VERSION,
        kind: 'airing',
        ...fields,
        at: iso(atMs ?? controllerNow),
        session: this.host.session(),
        ts: iso(this.host.ownNow()),
      },
      atMs === undefined ? trueNow : trueNow - (controllerNow - atMs),
    );
  }

  schedule(fields: ScheduleFields): void {
    this.#add(
      {
        v: PROTOCOL_VERSION,
        kind: 'schedule',
        ...fields,
        session: this.host.session(),
        ts: iso(this.host.ownNow()),
      },
      this.host.trueNow(),
    );
  }

  /** Sends, in order, every report not yet in flight on connection `gen`. */
  flush(client: MqttClient, topic: string, gen: number): void {
    for (const entry of this.#entries) {
      if (entry.gen === gen) continue;
      entry.gen = gen;
      // `ts` is the sender's clock at sending; `session` the connection it goes out on.
      const payload = JSON.stringify({
        ...entry.report,
        ts: iso(this.host.ownNow()),
        session: this.host.session(),
      });
      client.publishAsync(topic, payload, { qos: 1 }).then(
        () => this.#entries.delete(entry),
        () => {
          if (entry.gen === gen) entry.gen = 0; // lost with the link: resend on the next one
        },
      );
    }
  }

  /** `trueAt`: when it happened on the true clock. */
  #add(raw: AiringReport, trueAt: number): void {
    let report = raw;
    if (this.host.check) {
      const checked = airingReportSchema.safeParse(raw);
      if (!checked.success) {
        this.host.protocolError(
          `airing report breaks airingReportSchema: ${JSON.stringify(checked.error.issues)}`,
          raw,
        );
        return;
      }
      report = checked.data;
    }
    this.#entries.add({ report, gen: 0 });
    if (this.#entries.size > this.capacity) {
      const oldest = this.#entries.values().next().value;
      if (oldest) this.#entries.delete(oldest);
    }
    const record = toRecord(report, iso(trueAt));
    this.#records.push(record);
    if (this.#records.length > this.historySize) this.#records.shift();
    this.host.recorded(record);
  }
}

function toRecord(report: AiringReport, at: string): AiringRecord {
  const base = { report, kind: report.kind, state: report.state, at };
  const opt = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  if (report.kind === 'schedule')
    return { ...base, version: report.version, ...opt('reason', report.reason) };
  return {
    ...base,
    airingId: report.airingId,
    ...opt('item', report.item),
    ...opt('reason', report.reason),
    ...opt('outcome', report.outcome),
    ...opt('offsetMs', report.offsetMs),
    ...opt('sha256', report.sha256),
    ...opt('fallback', report.fallback),
    ...opt('resumed', report.resumed),
    ...opt('by', report.by),
  };
}
