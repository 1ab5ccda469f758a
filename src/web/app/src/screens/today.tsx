/**
 * Today: every village with its receivers' state as they report it (online, playing what, volume,
 * signal), live from the receiver stream (polling when it is unavailable); alerts for receivers
 * offline and since when; stops on their way; requests waiting for an approver; what airs next and
 * what just aired.
 */
import { useSignal, useSignalEffect } from '@preact/signals';
import { useEffect, useMemo } from 'preact/hooks';
import { ApiError, api, hasRole } from '../api';
import { formatNumber, t } from '../i18n';
import { type Dashboard, startDashboard } from '../today/dashboard';
import { type LiveReceiver, type LiveStore, startLive } from '../today/live';
import { Approvals, JustAired, Next, OfflineAlert, Stops, when } from '../today/sections';
import { s } from '../today/strings';
import '../today/today.css';

import type { Zone } from '../types';

export type { Receiver, Zone } from '../types';

function stateOf(r: LiveReceiver): 'offline' | 'playing' | 'idle' {
  return !r.online ? 'offline' : r.nowPlaying ? 'playing' : 'idle';
}

function signalText(r: LiveReceiver): string {
  if (!r.signal) return s('noSignal');
  const link = r.signal.link;
  const name = link === '4g' || link === 'wifi' || link === 'ethernet' ? s(link) : s('other');
  return r.signal.rssi === null ? name : `${name} ${formatNumber(r.signal.rssi)} dBm`;
}

function ReceiverRow(props: { r: LiveReceiver }) {
  const { r } = props;
  const state = stateOf(r);
  const np = r.nowPlaying;
  return (
    <li data-receiver={r.id} data-state={state} class={`rx ${state}`}>
      <span
        class={`dot ${state === 'offline' ? 'off' : state === 'playing' ? 'playing' : 'on'}`}
        aria-hidden="true"
      />
      <span class="name">{r.name}</span>
      <span class="state">
        {state === 'offline'
          ? t('today.offline')
          : state === 'playing'
            ? t('today.playing')
            : t('today.idle')}
      </span>
      <span class="detail">
        {state === 'offline' ? (
          r.lastSeen ? (
            s('since', { when: when(r.lastSeen) })
          ) : (
            s('sinceUnknown')
          )
        ) : (
          <>
            {np && (
              <span class="playing-title" data-title={np.title ?? ''}>
                {np.priority === 'emergency' && <span class="badge emergency">{s('emergency')}</span>}
                {np.title ? s('playingTitle', { title: np.title }) : t('today.playing')}
              </span>
            )}
            <span>
              {r.volume !== null && `${t('today.volume')} ${formatNumber(r.volume)} · `}
              {t('today.signal')} {signalText(r)}
            </span>
          </>
        )}
      </span>
    </li>
  );
}

export function Today() {
  const zones = useSignal<Zone[] | null>(null);
  const zoneError = useSignal('');
  const approver = hasRole('approver', 'operator');
  const { live, board } = useMemo(() => {
    let board: Dashboard | null = null;
    const live: LiveStore = startLive((before, after) => {
      // A play began or ended: the as-run log and the stops moved.
      if ((before?.nowPlaying?.startedAt ?? null) !== (after?.nowPlaying?.startedAt ?? null))
        board?.refreshSoon();
      // A receiver in a village this page does not know yet (just created): learn the villages again.
      if (after?.zoneId && zones.value && !zones.value.some((z) => z.id === after.zoneId)) void loadZones();
    });
    board = startDashboard({ approvals: approver });
    return { live, board };
  }, []);

  const sorted = (items: Zone[]) => [...items].sort((a, b) => a.name.localeCompare(b.name, 'vi'));
  async function loadZones() {
    try {
      zones.value = sorted((await api<{ items: Zone[] }>('GET', '/api/zones')).items);
      zoneError.value = '';
    } catch (err) {
      zoneError.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  // The stream's snapshot brings the villages; polling asks for them.
  useSignalEffect(() => {
    const fromStream = live.zones.value;
    if (fromStream) zones.value = sorted(fromStream);
  });
  useSignalEffect(() => {
    if (live.mode.value === 'polling' && zones.value === null) void loadZones();
  });
  // The rest of the page once the receivers are shown (they go first on a slow link).
  useSignalEffect(() => {
    if (live.loaded.value) board.begin();
  });
  useEffect(() => {
    return () => {
      live.stop();
      board.stop();
    };
  }, []);

  const all = [...live.receivers.value.values()].filter((r) => r.adoption === 'adopted');
  const offline = all.filter((r) => !r.online);
  const zoneName = (id: string | null) => zones.value?.find((z) => z.id === id)?.name ?? s('otherVillage');
  const mode = live.mode.value;
  const error = zoneError.value || live.error.value;
  return (
    <section class="today">
      <h1>{t('today.title')}</h1>
      <p class="summary">
        {live.loaded.value && (
          <span>{t('today.receivers', { online: all.length - offline.length, total: all.length })}</span>
        )}
        <span class={`mode ${mode}`} data-mode={mode}>
          {mode === 'live' ? `● ${s('live')}` : mode === 'polling' ? s('polling') : s('connecting')}
        </span>
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <OfflineAlert offline={offline} zoneName={zoneName} />
      <Stops stops={board.stops.value} zoneName={zoneName} />
      {approver && <Approvals items={board.approvals.value} />}
      {zones.value === null && !error && <p>{t('common.loading')}</p>}
      {zones.value?.length === 0 && <p>{t('today.noVillages')}</p>}
      <ul class="cards villages">
        {zones.value?.map((z) => {
          const mine = all.filter((r) => r.zoneId === z.id);
          const on = mine.filter((r) => r.online).length;
          return (
            <li key={z.id} class="card" data-zone={z.id}>
              <h2>
                <span class="one-line">{z.name}</span>
                <span class={`count ${on < mine.length ? 'short' : ''}`}>
                  {on}/{mine.length}
                </span>
              </h2>
              <ul class="receivers">
                {mine.map((r) => (
                  <ReceiverRow key={r.id} r={r} />
                ))}
              </ul>
            </li>
          );
        })}
      </ul>
      <Next items={board.next.value} />
      <JustAired items={board.aired.value} />
      {board.error.value && (
        <p role="alert" class="error small">
          {s('partFailed', { why: board.error.value })}
        </p>
      )}
    </section>
  );
}
