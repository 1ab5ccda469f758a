/** Options, faults and local events of `SimReceiver`. */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { ReceiverConfig, ReceiverEvent } from '../src/contract/mqtt.js';
import type { Clock } from '../src/time/clock.js';
import type { SimBreak } from './breaks.js';
import type { OneWayDelays } from './clockmodel.js';
import type { DownloadFaults } from './download.js';
import type { CommandVerifier } from './inbound.js';
import type { PlayedEntry } from './player/player.js';
import type { AiringRecord } from './schedule/reports.js';
import type { ClockSyncOptions, SyncState } from './timesync.js';

/**
 * What a simulated receiver advertises by default: MP3 and Ogg/Opus, what current 4G receiver
 * modules decode in hardware or firmware.
 */
export const DEFAULT_SIM_CODECS: readonly string[] = ['mp3', 'opus'];

/** Faults a test can switch on, at construction or at any time through `receiver.faults`. */

export interface SimFaults extends DownloadFaults {
  /** answer every play with `rejected` reason `busy` */
  rejectCommands: boolean;
  /** receiver clock = true time (options.clock) + this (ms); positive runs ahead */
  clockOffsetMs: number;
}

/** SimReceiver options; only id, brokerUrl and trustedKeys are required. */
export interface SimReceiverOptions {
  /** receiver id, also the MQTT client id */
  id: string;
  /** e.g. mqtt://127.0.0.1:1883 */
  brokerUrl: string;
  /**
   * MQTT credentials from the receiver's provisioning bundle (username = the id); also sent with
   * HTTP Basic when downloading audio. Absent: connect without (discovery only).
   */
  username?: string | undefined;
  password?: string | undefined;
  topicRoot?: string | undefined;
  /**
   * controller public keys by kid, as provisioned; a verified config listing `keys` replaces them
   * (a key rotation, docs/protocol.md §7.6)
   */
  trustedKeys: ReadonlyMap<string, KeyObject>;
  firmware?: string | undefined;
  /** own output volume 0–100 (default 70) */
  volume?: number | undefined;
  /**
   * The true time scale the simulated hardware lives in (default the system clock). A scaled clock
   * (src/time/clock.ts), shared with the controller, runs a day of schedule in seconds.
   */
  clock?: Clock | undefined;
  /** playback and gap time = nominal × timeFactor (default 1, or the clock's scale when a clock is given) */
  timeFactor?: number | undefined;
  clockOffsetMs?: number | undefined;
  /**
   * Rate error of the receiver's crystal, ppm (positive runs fast): own clock = true + offset +
   * driftPpm·(true − t0), t0 the construction instant. Default 0.
   */
  driftPpm?: number | undefined;
  /**
   * One-way network delays, real ms per message, order kept (a TCP link): time requests are held
   * `upMs` before they are published; every incoming message is handled `downMs` after it
   * arrived. Absent: no added delay (messages are handled as they arrive).
   */
  delay?: OneWayDelays | undefined;
  /**
   * The time exchange (docs/protocol.md §12): true or options to run it, so that controllerNow()
   * follows the controller's clock. Default off (controllerNow() is the own clock).
   */
  timeSync?: boolean | ClockSyncOptions | undefined;
  /**
   * Schedule tuning, controller-time ms: how long ahead of its slot a relay connects (default
   * 2000) and how long it may take to answer before its fallback plays (default 5000).
   */
  schedule?: { relayLeadMs?: number; relayConnectTimeoutMs?: number } | undefined;
  /** status republication period (default 60 s) */
  heartbeatMs?: number | undefined;
  /** session of the first connection (default: Unix seconds, so it grows across reboots) */
  initialSession?: number | undefined;
  log?: Logger | undefined;
  faults?: Partial<SimFaults> | undefined;
  /**
   * Deliberate protocol violations (breaks.ts), for proving the conformance kit's cases can fail.
   * Default none.
   */
  breaks?: readonly SimBreak[] | undefined;
  /**
   * check every event against the contract before sending it (default true: a simulator bug is
   * caught at the sender). Load tests with a thousand receivers on one host may turn it off.
   */
  checkOwnPayloads?: boolean | undefined;
  /** shared command-signature checker (a fleet passes one to all its receivers) */
  commandVerifier?: CommandVerifier | undefined;
  /** reported signal strength, dBm (default -85) */
  rssi?: number | undefined;
  /**
   * The codecs advertised in its status (docs/protocol.md §5), so the controller sends it the
   * smallest file it plays: default DEFAULT_SIM_CODECS; `[]` or null advertises nothing, like an
   * older firmware (the controller then assumes MP3). The simulator plays whatever it is sent.
   */
  codecs?: readonly string[] | null | undefined;
  /** events and played bulletins kept in memory for inspection, newest (default 1000) */
  historySize?: number | undefined;
  /** cached audio files kept (default 50) */
  cacheItems?: number | undefined;
  /** start() rejects when not online within this time; the receiver keeps trying (default 30 s) */
  startTimeoutMs?: number | undefined;
  /**
   * After subscribing, how long a receiver with no config yet waits for the retained one before
   * announcing "online" (default 200 ms; 0: do not wait)
   */
  configGraceMs?: number | undefined;
  /** reconnection backoff bounds, with jitter (default 1 s doubling to 60 s, as docs/protocol.md §2) */
  reconnectMinMs?: number | undefined;
  reconnectMaxMs?: number | undefined;
  /** wait before trying again after the broker refused the credentials (default 60 s) */
  refusedRetryMs?: number | undefined;
  /** first download retry delay, doubled each time (default 200 ms) */
  downloadRetryBaseMs?: number | undefined;
  /** longest delay between download retries (default 30 s) */
  downloadRetryMaxMs?: number | undefined;
  /**
   * download attempts before reporting `failed` (default: no limit, retried until the command
   * expires, as docs/protocol.md §7.3 asks); a small number acts like firmware that gives up early
   */
  downloadAttempts?: number | undefined;
}

/** Events a SimReceiver emits locally (not MQTT). */
export type SimReceiverEventMap = {
  /** a progress event it published (or queued to publish while offline) */
  event: [ReceiverEvent];
  config: [ReceiverConfig];
  played: [PlayedEntry];
  /** a report about its schedule or an airing (published, or queued while offline) */
  airing: [AiringRecord];
  online: [session: number];
  offline: [];
  stopped: [];
  /** the broker refused the connection for who it is (CONNACK 2, 4 or 5): credentials missing, wrong or revoked */
  refused: [code: number, reason: string];
  /** a time-exchange burst ended with an estimate (timeSync on) */
  synced: [SyncState];
  /** the receiver was about to publish a payload its own contract rejects: a simulator bug */
  protocolError: [message: string, payload: unknown];
};

/** The live fault switches for `opts`: none on unless asked for. */
export function resolveFaults(opts: SimReceiverOptions): SimFaults {
  return {
    dropMidDownload: 0,
    corruptBytes: false,
    rejectCommands: false,
    downloadRateBytesPerSec: undefined,
    ...opts.faults,
    clockOffsetMs: opts.faults?.clockOffsetMs ?? opts.clockOffsetMs ?? 0,
  };
}
