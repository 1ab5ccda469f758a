/**
 * The week of airings on a phone: seven columns do not fit 360 px, so a strip of days (today and
 * the six after, in the station's time zone) and the list of the chosen day, each airing at its
 * start as the server holds it (moved ones at their new time) with where it is suspended. Tapping
 * an airing opens what an operator may do with it and its readiness per village, from the
 * receivers' own reports (GET /api/airings/:id). Below: the villages whose schedule is suspended.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api, hasRole } from '../api';
import { locale, t } from '../i18n';
import { AiringActions } from './airing-actions';
import { localAt, localDate } from './local-time';
import {
  type Airing,
  type AiringDetail,
  clock,
  loadWeek,
  type ReceiverRef,
  villageNames,
  type ZoneRef,
} from './model';
import { Suspensions } from './suspend';
import { type Word, w } from './words';

/** "T2 7/12" for a local date YYYY-MM-DD. */
function dayLabel(date: string): { weekday: string; day: string } {
  const d = new Date(`${date}T12:00:00Z`);
  return {
    weekday: new Intl.DateTimeFormat(locale.value, { weekday: 'short', timeZone: 'UTC' }).format(d),
    day: new Intl.DateTimeFormat(locale.value, { day: 'numeric', month: 'numeric', timeZone: 'UTC' }).format(
      d,
    ),
  };
}

export function Calendar(props: { timeZone: string; zones: ZoneRef[]; receivers: ReceiverRef[] }) {
  const { timeZone } = props;
  const days = Array.from({ length: 7 }, (_, i) => localDate(timeZone, i));
  const day = useSignal(days[0]!);
  const airings = useSignal<Airing[] | null>(null);
  const open = useSignal<string | null>(null);
  const error = useSignal('');
  async function load() {
    try {
      airings.value = await loadWeek();
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 15_000);
    return () => clearInterval(timer);
  }, []);
  // where and when it starts now: a moved airing's `local` is still the planned time
  const shown = (airings.value ?? []).map((a) => ({ a, local: localAt(a.at, timeZone) }));
  const count = (d: string) => shown.filter((x) => x.local.startsWith(d)).length;
  const list = shown.filter((x) => x.local.startsWith(day.value));
  return (
    <div class="calendar">
      <div class="day-strip" role="tablist" aria-label={w('days')}>
        {days.map((d) => {
          const l = dayLabel(d);
          const n = count(d);
          return (
            <button
              key={d}
              type="button"
              role="tab"
              aria-selected={day.value === d}
              class={day.value === d ? 'on' : ''}
              data-date={d}
              onClick={() => {
                day.value = d;
              }}
            >
              <span class="wd">{l.weekday}</span>
              <span class="dd">{l.day}</span>
              <span class="n" aria-hidden="true">
                {n > 0 ? '•'.repeat(Math.min(n, 3)) : ' '}
              </span>
            </button>
          );
        })}
      </div>
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {airings.value === null && !error.value && <p>{t('common.loading')}</p>}
      {airings.value !== null && list.length === 0 && <p class="muted">{w('noAirings')}</p>}
      <ul class="airings" data-day={day.value}>
        {list.map(({ a, local }) => (
          <li
            key={a.id}
            data-airing={a.id}
            data-program={a.programId}
            class={`airing ${a.status}${a.suspendedIn.length ? ' suspended' : ''}`}
          >
            <button
              type="button"
              class="airing-row"
              aria-expanded={open.value === a.id}
              onClick={() => {
                open.value = open.value === a.id ? null : a.id;
              }}
            >
              <span class="time">{local.slice(11, 16)}</span>
              <span class="what">
                <strong>{a.title}</strong>
                <span class="muted">
                  {clock(a.durationMs)}
                  {a.status !== 'scheduled' && ` · ${w(a.status)}`}
                  {a.suspendedIn.length > 0 &&
                    ` · ${w('suspendedIn', { v: villageNames(props.zones, a.suspendedIn) })}`}
                  {a.shifted && ` · ${w('shiftedFrom', { t: a.local.slice(11, 16) })}`}
                </span>
              </span>
              <span class={`prio ${a.priority}`}>{w(`p_${a.priority}` as Word)}</span>
            </button>
            {a.problems.length > 0 && <p class="warn">{w('problems', { p: a.problems.join('; ') })}</p>}
            {open.value === a.id && a.planned && (
              <p class="muted pad">
                {w('plannedNote')}
                {hasRole('operator') && ` ${w('plannedActions')}`}
              </p>
            )}
            {open.value === a.id && !a.planned && (
              <>
                {hasRole('operator') && <AiringActions airing={a} timeZone={timeZone} onChanged={load} />}
                <Readiness id={a.id} zones={props.zones} receivers={props.receivers} />
              </>
            )}
          </li>
        ))}
      </ul>
      <Suspensions timeZone={timeZone} zones={props.zones} onChanged={load} />
    </div>
  );
}

const STATES = ['scheduled', 'ready', 'playing', 'interrupted', 'ended', 'no_report'];

/** Each village's receivers for one airing: how many are ready, and each one's state or outcome. */
export function Readiness(props: { id: string; zones: ZoneRef[]; receivers: ReceiverRef[] }) {
  const detail = useSignal<AiringDetail | null>(null);
  const error = useSignal('');
  useEffect(() => {
    let live = true;
    const load = () =>
      api<AiringDetail>('GET', `/api/airings/${encodeURIComponent(props.id)}`)
        .then((d) => {
          if (live) detail.value = d;
        })
        .catch((err: unknown) => {
          if (live) error.value = err instanceof ApiError ? err.message : t('err.network');
        });
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [props.id]);
  if (error.value)
    return (
      <p role="alert" class="error">
        {error.value}
      </p>
    );
  if (!detail.value) return <p>{t('common.loading')}</p>;
  const zoneOf = new Map(props.receivers.map((r) => [r.id, r.zoneId]));
  const nameOf = new Map(props.receivers.map((r) => [r.id, r.name]));
  const groups = new Map<string, AiringDetail['receivers']>();
  for (const r of detail.value.receivers) {
    const z = zoneOf.get(r.receiverId) ?? '';
    groups.set(z, [...(groups.get(z) ?? []), r]);
  }
  if (groups.size === 0) return <p class="muted">{w('noReceivers')}</p>;
  return (
    <section class="readiness" aria-label={w('readiness')}>
      {[...groups].map(([zoneId, rs]) => {
        const ready = rs.filter((r) => r.state !== 'scheduled' && r.state !== 'no_report').length;
        return (
          <div key={zoneId} class="village" data-zone={zoneId}>
            <h3>{props.zones.find((z) => z.id === zoneId)?.name ?? w('noVillage')}</h3>
            <p class="muted" data-ready={`${ready}/${rs.length}`}>
              {w('ready', { ready, total: rs.length })}
            </p>
            <ul>
              {rs.map((r) => (
                <li key={r.receiverId} data-receiver={r.receiverId} data-state={r.outcome ?? r.state}>
                  <span>{nameOf.get(r.receiverId) ?? r.receiverId}</span>
                  <span class={`badge ${r.outcome ?? r.state}`}>
                    {r.outcome
                      ? w(`out_${r.outcome}`)
                      : STATES.includes(r.state)
                        ? w(`st_${r.state}` as Word)
                        : r.state}
                  </span>
                </li>
              ))}
            </ul>
          </div>
        );
      })}
    </section>
  );
}
