/** The parts of Today around the villages: offline alerts, stops, approvals, next and just aired. */
import { formatDateTime, formatTime, t } from '../i18n';
import type { Approval } from '../types';
import type { Aired, NextAiring, StopItem } from './dashboard';
import type { LiveReceiver } from './live';
import { s } from './strings';

/** A time of today as "14:30", another day's with its date. */
export function when(iso: string): string {
  const d = new Date(iso);
  return d.toDateString() === new Date().toDateString() ? formatTime(iso) : formatDateTime(iso);
}

export function OfflineAlert(props: { offline: LiveReceiver[]; zoneName: (id: string | null) => string }) {
  const { offline } = props;
  return (
    <div role="status" class={offline.length > 0 ? 'warn offline-alert' : 'sr-only'}>
      {offline.length > 0 && (
        <>
          <strong>{t('today.offlineAlert', { n: offline.length })}</strong>
          <ul>
            {offline.slice(0, 5).map((r) => (
              <li key={r.id} data-offline={r.id}>
                <span class="one-line">
                  {r.name} · {props.zoneName(r.zoneId)}
                </span>
                <span class="since">
                  {r.lastSeen ? s('since', { when: when(r.lastSeen) }) : s('sinceUnknown')}
                </span>
              </li>
            ))}
            {offline.length > 5 && <li>…</li>}
          </ul>
        </>
      )}
    </div>
  );
}

export function Stops(props: { stops: StopItem[]; zoneName: (id: string | null) => string }) {
  if (props.stops.length === 0) return null;
  return (
    <section class="panel stops" aria-labelledby="today-stops">
      <h2 id="today-stops">{s('stops')}</h2>
      <ul>
        {props.stops.map((st) => (
          <li key={st.id} data-stop={st.id}>
            <span class="one-line">
              {st.kind === 'cancel'
                ? s('cancel')
                : st.target.all
                  ? s('stopAll')
                  : s('stopZones', { zones: (st.target.zones ?? []).map(props.zoneName).join(', ') })}
            </span>
            <span class="muted">
              {s('stopProgress', { confirmed: st.receivers.confirmed, total: st.receivers.total })} ·{' '}
              {when(st.createdAt)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Approvals(props: { items: Approval[] }) {
  if (props.items.length === 0) return null;
  return (
    <section class="panel approvals" aria-labelledby="today-approvals">
      <h2 id="today-approvals">{s('approvals', { n: props.items.length })}</h2>
      <ul>
        {props.items.slice(0, 3).map((a) => (
          <li key={a.id} data-approval={a.id}>
            <span class="one-line">
              {a.priority === 'emergency' && <span class="badge emergency">{s('emergency')}</span>} {a.title}
            </span>
            <span class="muted">
              {s('approvalBy', { who: a.createdByName ?? a.createdBy, when: when(a.createdAt) })}
            </span>
          </li>
        ))}
      </ul>
      <a class="button-link" href="/programs/approvals">
        {s('approvalsOpen')}
      </a>
    </section>
  );
}

export function Next(props: { items: NextAiring[] | null }) {
  const now = Date.now();
  return (
    <section class="panel next" aria-labelledby="today-next">
      <h2 id="today-next">{s('next')}</h2>
      {props.items === null ? (
        <p class="muted">{t('common.loading')}</p>
      ) : props.items.length === 0 ? (
        <p class="muted">{s('nextNone')}</p>
      ) : (
        <ul>
          {props.items.map((a) => (
            <li key={a.id} data-next={a.programId}>
              <span class="time">{Date.parse(a.at) <= now ? s('onAirNow') : when(a.at)}</span>
              <span class="one-line">{a.title}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

export function JustAired(props: { items: Aired[] | null }) {
  return (
    <section class="panel aired" aria-labelledby="today-aired">
      <h2 id="today-aired">{s('aired')}</h2>
      {props.items === null ? (
        <p class="muted">{t('common.loading')}</p>
      ) : props.items.length === 0 ? (
        <p class="muted">{s('airedNone')}</p>
      ) : (
        <ul>
          {props.items.map((g) => (
            <li key={g.key} data-aired={g.key}>
              <span class="time">{when(g.at)}</span>
              <span class="one-line">{g.title}</span>
              <span class="muted counts">
                {s('airedCounts', { aired: g.aired, total: g.total })}
                {g.cut > 0 && ` · ${s('cutCount', { n: g.cut })}`}
                {g.missed > 0 && ` · ${s('missedCount', { n: g.missed })}`}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
