/**
 * Villages whose schedule is suspended (GET /api/schedules), each with its dates and reason; and,
 * for an operator of that village, suspending one over dates with a reason, or resuming it
 * (POST /api/zones/:id/suspend). The calendar then reads the airings again: each says where it
 * is suspended, as the server holds it.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { api, hasRole, me } from '../api';
import { t } from '../i18n';
import { formatLocal, formatLocalDay, localAt, localDate, nextDate, startOfLocalDay } from './local-time';
import { villageNames, type ZoneRef } from './model';
import { errorText, w } from './words';

interface ZoneSchedule {
  zoneId: string;
  suspendedFrom: string | null;
  suspendedUntil: string | null;
  suspendReason: string | null;
}

/** Whether this officer may suspend village `zoneId`: an operator (or admin) whose villages include it. */
const mayChange = (zoneId: string) =>
  hasRole('operator') && (!me.value?.zones || me.value.zones.includes(zoneId));

export function Suspensions(props: { timeZone: string; zones: ZoneRef[]; onChanged: () => Promise<void> }) {
  const { timeZone } = props;
  const active = useSignal<ZoneSchedule[]>([]);
  const open = useSignal(false);
  const zone = useSignal('');
  const from = useSignal(localDate(timeZone));
  const to = useSignal(localDate(timeZone));
  const reason = useSignal('');
  const busy = useSignal(false);
  const notice = useSignal('');
  const error = useSignal('');
  const load = async () => {
    const r = await api<{ zones: ZoneSchedule[] }>('GET', '/api/schedules');
    active.value = r.zones.filter((z) => z.suspendedUntil && Date.parse(z.suspendedUntil) > Date.now());
  };
  useEffect(() => {
    load().catch((err: unknown) => {
      error.value = errorText(err);
    });
  }, []);
  const name = (id: string) => villageNames(props.zones, [id]);
  // a window of whole days (as this form makes them) reads as dates: "from 3/12 to the end of 5/12"
  const midnight = (iso: string) => localAt(iso, timeZone).endsWith('T00:00');
  const fromText = (iso: string | null) =>
    !iso ? w('suspNow') : midnight(iso) ? formatLocalDay(iso, timeZone) : formatLocal(iso, timeZone);
  const untilText = (iso: string) =>
    midnight(iso)
      ? w('endOf', { d: formatLocalDay(Date.parse(iso) - 1, timeZone) })
      : formatLocal(iso, timeZone);
  const mine = props.zones.filter((z) => mayChange(z.id));
  if (active.value.length === 0 && mine.length === 0) return null;

  async function run(zoneId: string, body: object, done: string) {
    busy.value = true;
    error.value = '';
    try {
      await api('POST', `/api/zones/${encodeURIComponent(zoneId)}/suspend`, body);
      notice.value = done;
      open.value = false;
      await Promise.all([load(), props.onChanged()]);
    } catch (err) {
      error.value = errorText(err);
    } finally {
      busy.value = false;
    }
  }
  function suspend(e: Event) {
    e.preventDefault();
    const problem = !zone.value
      ? w('needVillage')
      : !reason.value.trim()
        ? w('needReason')
        : to.value < from.value
          ? w('errWindow')
          : '';
    error.value = problem;
    if (problem) return;
    void run(
      zone.value,
      {
        from: startOfLocalDay(from.value, timeZone),
        until: startOfLocalDay(nextDate(to.value), timeZone),
        reason: reason.value.trim(),
      },
      w('suspDone', { v: name(zone.value) }),
    );
  }

  return (
    <section class="suspensions card stack" aria-labelledby="susp-h">
      <h2 id="susp-h">{w('suspTitle')}</h2>
      {notice.value && <p role="status">{notice.value}</p>}
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {active.value.length > 0 && (
        <ul>
          {active.value.map((z) => (
            <li key={z.zoneId} data-suspended-zone={z.zoneId} class="stack">
              <span>
                {w('suspActive', {
                  v: name(z.zoneId),
                  from: fromText(z.suspendedFrom),
                  until: untilText(z.suspendedUntil!),
                })}
                {z.suspendReason && <span class="muted block">{w('reason', { r: z.suspendReason })}</span>}
              </span>
              {mayChange(z.zoneId) && (
                <button
                  type="button"
                  disabled={busy.value}
                  onClick={() => void run(z.zoneId, { until: null }, w('resumed', { v: name(z.zoneId) }))}
                >
                  {w('resume', { v: name(z.zoneId) })}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {mine.length > 0 && !open.value && (
        <button type="button" onClick={() => (open.value = true)}>
          {w('suspOpen')}
        </button>
      )}
      {mine.length > 0 && open.value && (
        <form class="stack" aria-label={w('suspOpen')} onSubmit={suspend}>
          <label>
            {w('village')}
            <select value={zone.value} onChange={(e) => (zone.value = e.currentTarget.value)}>
              <option value="">{w('chooseVillage')}</option>
              {mine.map((z) => (
                <option key={z.id} value={z.id}>
                  {z.name}
                </option>
              ))}
            </select>
          </label>
          <div class="row two">
            <label>
              {w('from')}
              <input
                type="date"
                required
                value={from.value}
                onInput={(e) => (from.value = e.currentTarget.value)}
              />
            </label>
            <label>
              {w('suspTo')}
              <input
                type="date"
                required
                min={from.value}
                value={to.value}
                onInput={(e) => (to.value = e.currentTarget.value)}
              />
            </label>
          </div>
          <label>
            {w('suspWhy')}
            <input
              type="text"
              maxLength={200}
              value={reason.value}
              onInput={(e) => (reason.value = e.currentTarget.value)}
            />
          </label>
          <div class="row two">
            <button type="button" onClick={() => (open.value = false)}>
              {t('common.cancel')}
            </button>
            <button type="submit" class="primary" disabled={busy.value}>
              {w('suspYes')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
