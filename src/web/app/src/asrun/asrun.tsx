/**
 * The as-run log (nhật ký phát): what each receiver reported it played, per airing or
 * announcement, over chosen dates and a village; the CSV the commune files; and a small chart of
 * aired / cut / missed per village and day (GET /api/asrun/summary).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api } from '../api';
import { formatDateTime, lang, t } from '../i18n';
import { localDate, nextDate, startOfLocalDay } from '../programs/local-time';
import type { ReceiverRef, ZoneRef } from '../programs/model';
import { w } from '../programs/words';
import { type DayCount, SummaryChart } from './chart';

interface Row {
  kind: 'airing' | 'bulletin';
  id: string;
  title: string;
  receiverId: string;
  zoneId: string | null;
  scheduled: string;
  started: string | null;
  ended: string | null;
  outcome: 'aired' | 'cut' | 'missed' | 'pending' | 'unknown';
  reason: string | null;
}

/** Every local date from `a` to `b` (inclusive), at most 62. */
function datesBetween(a: string, b: string): string[] {
  const out: string[] = [];
  for (let d = a; d <= b && out.length < 62; d = nextDate(d)) out.push(d);
  return out;
}

export function AsRun(props: { timeZone: string; zones: ZoneRef[]; receivers: ReceiverRef[] }) {
  const { timeZone } = props;
  const from = useSignal(localDate(timeZone, -6));
  const to = useSignal(localDate(timeZone));
  const zone = useSignal('');
  const rows = useSignal<Row[] | null>(null);
  const days = useSignal<DayCount[]>([]);
  const error = useSignal('');
  const query = () => {
    const q = new URLSearchParams({
      from: startOfLocalDay(from.value, timeZone),
      to: startOfLocalDay(nextDate(to.value), timeZone),
    });
    if (zone.value) q.set('zone', zone.value);
    return q;
  };
  async function load() {
    try {
      const q = query();
      const [r, s] = await Promise.all([
        api<{ items: Row[] }>('GET', `/api/asrun?${q}&limit=2000`),
        api<{ days: DayCount[] }>('GET', `/api/asrun/summary?${q}`),
      ]);
      rows.value = r.items;
      days.value = s.days;
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  useEffect(() => {
    void load();
  }, []);
  const nameOf = new Map(props.receivers.map((r) => [r.id, r.name]));
  const zoneName = (id: string | null) => props.zones.find((z) => z.id === id)?.name ?? w('noVillage');
  const groups = new Map<string, Row[]>();
  for (const r of rows.value ?? []) {
    const k = `${r.kind}:${r.id}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const csv = `/api/asrun?${query()}&format=csv&lang=${lang.value}`;
  return (
    <div class="asrun">
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <div class="row two">
          <label>
            {w('from')}
            <input
              type="date"
              value={from.value}
              max={to.value}
              onInput={(e) => (from.value = e.currentTarget.value)}
            />
          </label>
          <label>
            {w('to')}
            <input
              type="date"
              value={to.value}
              min={from.value}
              onInput={(e) => (to.value = e.currentTarget.value)}
            />
          </label>
        </div>
        <label>
          {w('village')}
          <select value={zone.value} onChange={(e) => (zone.value = e.currentTarget.value)}>
            <option value="">{w('allOfThem')}</option>
            {props.zones.map((z) => (
              <option key={z.id} value={z.id}>
                {z.name}
              </option>
            ))}
          </select>
        </label>
        <div class="row two">
          <button type="submit" class="primary">
            {w('show')}
          </button>
          <a class="button" href={csv} download="nhat-ky-phat.csv">
            {w('csv')}
          </a>
        </div>
      </form>
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {days.value.length > 0 && (
        <SummaryChart days={days.value} range={datesBetween(from.value, to.value)} zoneName={zoneName} />
      )}
      {rows.value === null && !error.value && <p>{t('common.loading')}</p>}
      {rows.value?.length === 0 && <p class="muted">{w('noRows')}</p>}
      <ul class="cards">
        {[...groups].map(([k, rs]) => {
          const first = rs[0]!;
          return (
            <li key={k} class="card" data-asrun={first.id} data-kind={first.kind}>
              <h2>{first.kind === 'bulletin' ? `${w('bulletin')}: ${first.title}` : first.title}</h2>
              <p class="muted">{formatDateTime(first.scheduled)}</p>
              <ul class="outcomes">
                {rs.map((r) => (
                  <li key={r.receiverId} data-receiver={r.receiverId} data-outcome={r.outcome}>
                    <span class="name">
                      {nameOf.get(r.receiverId) ?? r.receiverId}
                      <span class="muted small"> · {zoneName(r.zoneId)}</span>
                    </span>
                    <span class={`badge ${r.outcome}`}>{w(r.outcome)}</span>
                    {r.started && (
                      <span class="muted small block">
                        {w('started')} {formatDateTime(r.started)}
                        {r.ended && ` · ${w('ended')} ${formatDateTime(r.ended)}`}
                      </span>
                    )}
                    {r.reason && <span class="muted small block">{w('reason', { r: r.reason })}</span>}
                  </li>
                ))}
              </ul>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
