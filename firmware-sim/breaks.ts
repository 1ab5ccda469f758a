/**
 * Deliberate protocol violations, for the conformance kit's own tests (src/conformance): every
 * case of the kit must be seen failing against a receiver that breaks what it checks, and this
 * is that receiver — the reference simulator with one behaviour switched off. Never on unless
 * asked for (`breaks` option, `--break` on the command line); a receiver with any of them on is
 * not conformant, by design.
 */

/** Each violation, and what the receiver then does wrong. */
export const SIM_BREAKS = {
  'accept-unsigned': 'acts on a plain JSON command (no envelope) instead of refusing it (§7.1 step 3)',
  'accept-unknown-key': 'acts on a command signed by a key it does not trust (§7.1 step 4)',
  'accept-bad-signature': 'acts on a command whose signature does not verify (§7.1 step 5)',
  'accept-wrong-topic':
    "acts on a command sealed for another topic, checking the envelope's own topic (§7.1 step 5)",
  'no-replay-memory': 'acts again on a command id it already handled (§7.1 step 7)',
  'no-expiry-check': 'acts on a command past its expiresAt (§7.1 step 8)',
  'no-issued-check': 'acts on a command issued far in the future (§7.1 step 9)',
  'forgery-uses-id':
    "remembers a refused command's id, so the genuine command with that id is refused (§7.1)",
  'status-without-keys': 'leaves the trusted key ids out of its status (§5)',
  'skip-received': 'does not acknowledge a play with received before downloading (§7.3 step 1)',
  'ignore-gap': 'plays the repeats of a bulletin back to back, without its gapMs (§7.3 step 5)',
  'redownload-cached': 'downloads audio again that it already holds verified (§7.3 step 1)',
  // priority, preemption, resume, stops, downloads, volume (cf-stops)
  'no-preempt': 'a higher-priority play waits for the one sounding instead of preempting it (§7.3 step 3)',
  'preempt-equal': 'a new play preempts the one sounding even at equal priority (§7.3 step 3)',
  'emergency-waits':
    'a new emergency waits for the emergency sounding instead of preempting it (§7.3 step 3)',
  'fifo-queue': 'plays what waits in arrival order, whatever its priority (§7.3 step 3)',
  'no-resume': 'drops a preempted item (preempted without resumes) instead of resuming it (§7.3 step 4)',
  'resume-mid-play':
    'resumes where the sound was cut instead of from the start of the interrupted play (§7.3 step 4)',
  'resume-gap-replays':
    'interrupted in the gap between two plays, resumes with the play that had ended, not the next (§7.3 step 4)',
  'resume-fifo':
    'resumes interrupted items of one priority in arrival order, not the one interrupted last first (§7.3 step 4)',
  'resume-after-expiry':
    'resumes an interrupted item whose expiresAt passed while it waited, instead of reporting it expired (§7.3 step 4)',
  'resume-in-quiet-hours':
    'resumes an interrupted normal or priority item inside the quiet hours that began while it waited (§13.10)',
  'confirm-before-cancel': 'confirms a stop (received) before reporting the items it cancelled (§7.4)',
  'stop-ignores-seq': "a bulletin's stop cancels its items whatever their seq (§7.4)",
  'forget-stops': 'forgets applied stops: a play issued before a stop that arrives after it plays (§7.4)',
  'stop-spares-queue': 'a stop leaves the queued items that never started (§7.4)',
  'stop-spares-interrupted': 'a stop leaves the items waiting to resume (§7.4)',
  'stop-spares-gap':
    'a stop leaves an item in the gap between two of its plays (nothing sounds): its next play starts (§7.4)',
  'stop-spares-download': 'a stop leaves the downloads in progress (§7.4)',
  'ignore-checksum': "plays audio whose sha256 differs from the command's (§7.3 step 2, §12.5)",
  'ignore-size': "plays audio whose byte count differs from the command's size (§7.3 step 2, §12.5)",
  'retry-4xx':
    'retries a download answered 4xx (an expired link, a deleted file) until the command expires (§7.3 step 2)',
  'no-retry-5xx': 'gives up a download at its first 5xx or network error instead of retrying (§7.3 step 2)',
  'ignore-zone-topic': 'does not act on commands that arrive on its zone topic (§4)',
  'ignore-all-topic': 'does not act on commands that arrive on the all-receivers topic (§4)',
  'no-volume-status': 'does not republish its status when its configured volume changes (§5, §6)',
  // schedules and time (src/conformance/cases/schedule.ts, time.ts, renditions.ts)
  'ignore-schedule': 'drops every payload on its schedule topic: takes no document, reports nothing (§13.3)',
  'ignore-stale-version': 'takes a schedule document older than the one it holds (§13.3)',
  'accept-forged-schedule':
    'takes a schedule document whose envelope is unsigned, by an unknown key or badly signed (§13.3)',
  'accept-other-receiver-schedule': "takes a schedule document naming another receiver's id (§13.2)",
  'schedule-late-start': 'starts each airing 600 ms after its instant (§13.5)',
  'airing-needs-link': 'an airing due while its link is down waits for the link, then joins late (§13.5)',
  'late-from-top': 'an airing started late plays from its first item, whatever its late policy (§13.6)',
  'ignore-quiet-hours': 'ignores the quiet hours of its schedule document (§13.10)',
  'no-time-sync': 'never sends time requests: keeps its schedule by its own clock alone (§14.5)',
  'accept-forged-clock': 'takes a time reply without checking its signature (§14.2 step 1)',
  'time-any-nonce':
    'takes a genuinely signed time reply whatever its nonce: one already answered, or one it never sent (§14.2 step 3)',
  'time-ignore-t1': "takes a time reply for its nonce whatever the reply's t1 (§14.2 step 4)",
  'time-refused-uses-nonce':
    'a time reply it ignores for its t1 or its timestamps uses the nonce up: the genuine answer after it is not taken (§14.2)',
  'time-accept-late':
    "takes a time reply however late: no deadline, and an ended burst's nonces stay open (§14.2 step 5)",
  'time-impossible-timestamps': 'takes a time reply whose timestamps are impossible (t3 < t2) (§14.2 step 6)',
  'cannot-play-opus': 'lists opus among its codecs but fails Ogg/Opus audio: unsupported_format (§5, §7.3)',
  // Connection, sessions, start-up, link cuts, retained config, keys (src/conformance/cases/link.ts, keys.ts)
  'will-wrong-session':
    'composes its last will once, at the first connection: later wills carry a stale session (§2, §5)',
  'session-not-increasing': 'reconnects with the same session number instead of a greater one (§5)',
  'slow-reconnect': 'waits 10–20 s before its first reconnection instead of about 1 s (§2 Reconnect)',
  'online-before-subscribe':
    'announces online at once on connection and subscribes only after the config grace (§2 start-up order)',
  'online-before-config':
    'announces online as soon as subscribed and applies the retained config after the grace (§2 start-up order)',
  'drop-queued-events':
    'forgets the events the broker had not acknowledged when the link died, instead of resending them (§8)',
  'ignore-allstop-on-own-topic':
    'applies an all-stop only from all/cmd or its zone topic, not resent on its own topic (§7.4, §8)',
  'keep-old-zone': 'keeps the zones of its first config: does not follow a move to another zone (§4, §6)',
  'ignore-config-seq': 'applies a config whose seq is lower than the one it applied (§6)',
  'volatile-schedule':
    'loses its schedule document at a power cycle: booted without network it airs nothing until the document comes again (§13.12)',
  'volatile-aired':
    'forgets at a power cycle the airings it had started: one cut by the power loss airs again when its document comes back (§13.12)',
  'refused-fast-retry':
    'after the broker refused its credentials, retries with the normal backoff instead of every 60 s (§12.6)',
  'obey-empty-config': 'takes an empty retained config (a cleared topic) as un-adoption (§6)',
  'accept-config-wrong-topic': "applies a config signed for another receiver's config topic (§6, §7.1)",
  'ignore-key-rotation': 'does not take the key set of a verified config: never learns a new key (§6, §7.6)',
  'keep-retired-key': 'adds the keys of a config to those it trusts instead of replacing them (§6, §7.6)',
  'will-not-retained': 'connects with a last will that is not retained (§2)',
  'subscribe-beyond-own': "also subscribes to every receiver's command topic (§4)",
  'status-qos0': 'publishes its status at QoS 0 (§4)',
  'volatile-replay-memory': 'forgets the command ids it handled when it boots (§7.1, replay memory)',
  'volatile-config-seq': 'forgets the seq of the config it applied when it boots (§6)',
  'session-resets-at-boot': 'starts again from its first session number at every boot (§5)',
} as const;

export type SimBreak = keyof typeof SIM_BREAKS;

export const SIM_BREAK_NAMES = Object.keys(SIM_BREAKS) as SimBreak[];

export function isSimBreak(name: string): name is SimBreak {
  return Object.hasOwn(SIM_BREAKS, name);
}
