/**
 * The all-stop: a big red button, its own confirmation, then how many receivers have confirmed
 * the stop, live (GET /api/stops/:id/progress).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api } from '../api';
import { t } from '../i18n';
import { Dialog } from './dialog';
import { s } from './words';

interface StopSummary {
  id: string;
  status: 'accepted' | 'sent' | 'confirmed' | 'ended';
  receivers: { total: number; pending: number; sent: number; confirmed: number };
}
interface StopAnswer {
  stop: StopSummary;
  handedOff: boolean;
}

export function AllStop() {
  const asking = useSignal(false);
  const busy = useSignal(false);
  const error = useSignal('');
  const stop = useSignal<StopSummary | null>(null);
  const queued = useSignal(false);

  const stopId = stop.value?.id;
  useEffect(() => {
    if (!stopId) return;
    const es = new EventSource(`/api/stops/${encodeURIComponent(stopId)}/progress`);
    es.addEventListener('progress', (e) => {
      stop.value = JSON.parse((e as MessageEvent<string>).data) as StopSummary;
    });
    es.addEventListener('end', () => es.close());
    return () => es.close();
  }, [stopId]);

  async function run() {
    busy.value = true;
    error.value = '';
    try {
      const a = await api<StopAnswer>('POST', '/api/stop', { all: true });
      stop.value = a.stop;
      queued.value = !a.handedOff;
      asking.value = false;
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  const st = stop.value;
  const done = st && st.receivers.pending + st.receivers.sent === 0;
  return (
    <div class="ann-stop">
      <button
        type="button"
        class="ann-stop-button"
        onClick={() => {
          error.value = '';
          asking.value = true;
        }}
      >
        ■ {s('stopAll')}
      </button>
      {st && (
        <p role="status" class={done ? 'ann-stop-done' : 'warn'} data-stop-status={st.status}>
          {s(done ? 'stopDone' : 'stopProgress', {
            confirmed: st.receivers.confirmed,
            total: st.receivers.total,
          })}
          {queued.value && !done && ` ${s('stopQueued')}`}
        </p>
      )}
      <Dialog open={asking.value} title={s('stopTitle')} onClose={() => (asking.value = false)}>
        <p>{s('stopText')}</p>
        {error.value && (
          <p role="alert" class="error">
            {error.value}
          </p>
        )}
        <button type="button" class="primary big" disabled={busy.value} onClick={() => void run()}>
          {s('stopConfirm')}
        </button>
        <button type="button" class="big" onClick={() => (asking.value = false)}>
          {t('common.cancel')}
        </button>
      </Dialog>
    </div>
  );
}
