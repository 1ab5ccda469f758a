/**
 * The as-run log (nhật ký phát): what each receiver reported it played, per airing or
 * announcement, over chosen dates and a village; the CSV the commune files; and a small chart of
 * aired / cut / missed per village and day (GET /api/asrun/summary).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { AsRunDay, AsRunRow } from '../../../../contract/asrun';
import { api, errorText } from '../api';
import { formatDateTime, lang, t } from '../i18n';
import { localDate, nextDate, startOfLocalDay } from '../programs/local-time';
import type { ReceiverRef, ZoneRef } from '../programs/model';
import { w } from '../programs/words';
import { Choice, DateRange, FilterBar } from '../ui/filters';
import { Notice } from '../ui/notice';
import { SummaryChart } from './chart';

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
  const rows = useSignal<AsRunRow[] | null>(null);
  const days = useSignal<AsRunDay[]>([]);
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
        api<{ items: AsRunRow[] }>('GET', `/api/asrun?${q}&limit=2000`),
        api<{ days: AsRunDay[] }>('GET', `/api/asrun/summary?${q}`),
      ]);
      rows.value = r.items;
      days.value = s.days;
      error.value = '';
    } catch (err) {
      error.value = errorText(err);
    }
  }
  useEffect(() => {
    void load();
  }, []);
  const nameOf = new Map(props.receivers.map((r) => [r.id, r.name]));
  const zoneName = (id: string | null) => props.zones.find((z) => z.id === id)?.name ?? w('noVillage');
  const groups = new Map<string, AsRunRow[]>();
  for (const r of rows.value ?? []) {
    const k = `${r.kind}:${r.id}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const csv = `/api/asrun?${query()}&format=csv&lang=${lang.value}`;
  return (
    <div class="asrun">
      <FilterBar
        onApply={() => void load()}
        apply={w('show')}
        csv={{ href: csv, label: w('csv'), file: 'nhat-ky-phat.csv' }}
      >
        <DateRange from={from} to={to} fromLabel={w('from')} toLabel={w('to')} />
        <Choice
          label={w('village')}
          value={zone}
          all={w('allOfThem')}
          options={props.zones.map((z) => ({ value: z.id, label: z.name }))}
        />
      </FilterBar>
      <Notice error={error.value} />
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
