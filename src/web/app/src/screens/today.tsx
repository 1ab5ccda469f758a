/**
 * Today: every village with its receivers' state as they report it (online, playing what, volume,
 * signal) and an alert for those offline.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api } from '../api';
import { t } from '../i18n';

export interface Zone {
  id: string;
  name: string;
}
export interface Receiver {
  id: string;
  name: string;
  zoneId: string | null;
  adoption: 'pending' | 'adopted';
  online: boolean;
  volume: number | null;
  signal: { link: string; rssi: number | null } | null;
  nowPlaying: { bulletinId?: string; priority: string; play: number; startedAt: string } | null;
}

export function Today() {
  const zones = useSignal<Zone[] | null>(null);
  const receivers = useSignal<Receiver[]>([]);
  const error = useSignal('');
  async function load() {
    try {
      const [z, r] = await Promise.all([
        api<{ items?: Zone[] } | Zone[]>('GET', '/api/zones'),
        api<{ items?: Receiver[] } | Receiver[]>('GET', '/api/receivers'),
      ]);
      zones.value = Array.isArray(z) ? z : (z.items ?? []);
      receivers.value = Array.isArray(r) ? r : (r.items ?? []);
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 5000);
    return () => clearInterval(timer);
  }, []);
  const all = receivers.value.filter((r) => r.adoption === 'adopted');
  const offline = all.filter((r) => !r.online);
  return (
    <section>
      <h1>{t('today.title')}</h1>
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {zones.value === null && !error.value && <p>{t('common.loading')}</p>}
      {zones.value !== null && (
        <p class="muted">
          {t('today.receivers', { online: all.length - offline.length, total: all.length })}
        </p>
      )}
      {offline.length > 0 && (
        <p role="status" class="warn">
          {t('today.offlineAlert', { n: offline.length })}
        </p>
      )}
      {zones.value?.length === 0 && <p>{t('today.noVillages')}</p>}
      <ul class="cards">
        {zones.value?.map((z) => (
          <li key={z.id} class="card" data-zone={z.id}>
            <h2>{z.name}</h2>
            <ul class="receivers">
              {all
                .filter((r) => r.zoneId === z.id)
                .map((r) => (
                  <li
                    key={r.id}
                    data-receiver={r.id}
                    data-state={!r.online ? 'offline' : r.nowPlaying ? 'playing' : 'idle'}
                  >
                    <span
                      class={`dot ${r.online ? (r.nowPlaying ? 'playing' : 'on') : 'off'}`}
                      aria-hidden="true"
                    />
                    <span class="name">{r.name}</span>
                    <span class="state">
                      {!r.online ? t('today.offline') : r.nowPlaying ? t('today.playing') : t('today.idle')}
                    </span>
                    {r.volume !== null && (
                      <span class="muted">
                        {t('today.volume')} {r.volume}
                      </span>
                    )}
                  </li>
                ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}
