/**
 * Where an announcement has got to, live: per village and receiver, heard / playing / not yet /
 * failed (GET /api/announcements/:id, then its SSE stream until every receiver has an outcome).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api } from '../api';
import { t } from '../i18n';
import { failureText } from './reasons';
import { AllStop } from './stop';
import { s } from './words';

type ReachState = 'heard' | 'playing' | 'not_yet' | 'failed';
interface Counts {
  total: number;
  heard: number;
  playing: number;
  not_yet: number;
  failed: number;
}
interface Reach {
  announcement: { id: string; title: string; status: string };
  counts: Counts;
  complete: boolean;
  villages: {
    zoneId: string | null;
    name: string;
    counts: Counts;
    receivers: { id: string; name: string | null; reach: ReachState; state: string; reason: string | null }[];
  }[];
}

const STATES: ReachState[] = ['heard', 'playing', 'not_yet', 'failed'];

export function ReachView({ id, onNew }: { id: string; onNew: () => void }) {
  const reach = useSignal<Reach | null>(null);
  const error = useSignal('');
  const live = useSignal(false);

  useEffect(() => {
    let es: EventSource | null = null;
    let gone = false;
    api<Reach>('GET', `/api/announcements/${encodeURIComponent(id)}`)
      .then((r) => {
        if (gone) return;
        reach.value = r;
        es = new EventSource(`/api/announcements/${encodeURIComponent(id)}/reach`);
        es.onopen = () => {
          live.value = true;
          error.value = '';
        };
        es.onerror = () => {
          // EventSource reconnects by itself; say so meanwhile
          live.value = false;
        };
        es.addEventListener('progress', (e) => {
          reach.value = JSON.parse((e as MessageEvent<string>).data) as Reach;
        });
        es.addEventListener('end', () => {
          es?.close();
          live.value = false;
        });
      })
      .catch((err: unknown) => {
        error.value = err instanceof ApiError ? err.message : t('err.network');
      });
    return () => {
      gone = true;
      es?.close();
    };
  }, [id]);

  const r = reach.value;
  const status = r?.announcement.status;
  return (
    <section class="ann ann-reach">
      <h1>{s('reachTitle')}</h1>
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {!r && !error.value && <p>{t('common.loading')}</p>}
      {r && (
        <>
          <p class="ann-reach-title">{r.announcement.title}</p>
          {status === 'pending' && <p class="warn">{s('waitingApproval')}</p>}
          {status === 'rejected' && <p class="warn">{s('rejected')}</p>}
          {(status === 'cancelled' || status === 'withdrawn') && <p class="warn">{s('cancelled')}</p>}
          {status === 'sent' && (
            <p role="status" class="ann-reach-summary" data-complete={String(r.complete)}>
              {s('reachSummary', { heard: r.counts.heard, total: r.counts.total })}
              {r.complete ? ` · ${s('complete')}` : live.value ? ` · ${s('live')}` : ''}
            </p>
          )}
          <ul class="cards">
            {r.villages.map((v) => (
              <li key={v.zoneId ?? v.name} class="card" data-village={v.zoneId ?? ''}>
                <h2>{v.name}</h2>
                <p class="ann-counts">
                  {STATES.filter((k) => v.counts[k] > 0).map((k) => (
                    <span key={k} class={`ann-chip ann-${k}`}>
                      {s(k)}: {v.counts[k]}
                    </span>
                  ))}
                </p>
                <ul class="receivers">
                  {v.receivers.map((x) => (
                    <li key={x.id} data-receiver={x.id} data-reach={x.reach}>
                      <span class={`dot ann-dot-${x.reach}`} aria-hidden="true" />
                      <span class="name">{x.name ?? x.id}</span>
                      <span class={`ann-state ann-${x.reach}`}>{s(x.reach)}</span>
                      {x.reach === 'failed' && (
                        <span class="muted ann-reason">{failureText(x.state, x.reason)}</span>
                      )}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </>
      )}
      <AllStop />
      <button type="button" class="big" onClick={onNew}>
        {s('newAnnouncement')}
      </button>
    </section>
  );
}
