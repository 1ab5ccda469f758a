/**
 * Announce now (issue 10): villages, a recorded voice or typed text (listened to first), priority,
 * repeats and volume; the PIN for an emergency to every village; then the live reach view
 * (/announce/<id>) and the all-stop. The draft stays on the phone until the server has taken it.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { PinDialog } from '../announce/confirm';
import { clearDraft, type Draft, loadDraft, newKey, saveDraft } from '../announce/draft';
import { ReachView } from '../announce/reach';
import { Recorder } from '../announce/recorder';
import { asksPin, sendDraft } from '../announce/send';
import { AllStop } from '../announce/stop';
import { TextContent } from '../announce/text';
import { s } from '../announce/words';
import { ApiError, api, me } from '../api';
import { t } from '../i18n';
import type { Zone } from './today';
import '../announce/announce.css';

export function Announce() {
  const { path, route } = useLocation();
  const id = /^\/announce\/([^/]+)/.exec(path)?.[1];
  if (id) return <ReachView id={decodeURIComponent(id)} onNew={() => route('/announce')} />;
  return <Compose onSent={(sent) => route(`/announce/${encodeURIComponent(sent)}`)} />;
}

const VOLUMES = [null, 25, 50, 75, 100] as const;

function Compose({ onSent }: { onSent: (id: string) => void }) {
  const draft = useSignal<Draft | null>(null);
  const zones = useSignal<Zone[] | null>(null);
  const error = useSignal('');
  const busy = useSignal(false);
  const pinOpen = useSignal(false);
  const pinError = useSignal('');
  /** the server asked for the PIN though this announcement alone does not reach every village */
  const pinSummed = useSignal(false);
  /** the last send failed for the network: say so when it comes back */
  const lostNetwork = useSignal(false);
  const backOnline = useSignal(false);

  useEffect(() => {
    void loadDraft().then((d) => {
      draft.value = d;
    });
    api<{ items?: Zone[] } | Zone[]>('GET', '/api/zones')
      .then((z) => {
        zones.value = Array.isArray(z) ? z : (z.items ?? []);
      })
      .catch((err: unknown) => {
        error.value = err instanceof ApiError ? err.message : t('err.network');
      });
    const onOnline = () => {
      if (lostNetwork.value) backOnline.value = true;
    };
    window.addEventListener('online', onOnline);
    return () => window.removeEventListener('online', onOnline);
  }, []);

  const d = draft.value;
  if (!d) return <p>{t('common.loading')}</p>;
  const update = (patch: Partial<Draft>) => {
    const next = { ...(draft.value as Draft), ...patch };
    draft.value = next;
    void saveDraft(next);
  };
  const zoneList = zones.value ?? [];
  const mayAll = me.value?.zones == null;

  async function send(pin?: string) {
    const cur = draft.value as Draft;
    error.value = '';
    pinError.value = '';
    backOnline.value = false;
    if (!cur.all && cur.zones.length === 0) {
      error.value = s('pickVillage');
      return;
    }
    if (cur.mode === 'voice' && !cur.clip) {
      error.value = s('recNeeded');
      return;
    }
    if (cur.mode === 'text' && !cur.text.trim()) {
      error.value = s('textNeeded');
      return;
    }
    if (pin === undefined && asksPin(cur, zoneList.length)) {
      pinSummed.value = false;
      pinOpen.value = true;
      return;
    }
    busy.value = true;
    try {
      const sent = await sendDraft(cur, pin);
      await clearDraft();
      lostNetwork.value = false;
      pinOpen.value = false;
      onSent(sent.announcement.id);
    } catch (err) {
      const e = err instanceof ApiError ? err : null;
      if (e?.code === 'confirmation_required') {
        // the rule counts what this officer sent lately too: the server may ask when the page did not
        pinSummed.value = !asksPin(cur, zoneList.length);
        pinOpen.value = true;
      } else if (pinOpen.value && (e?.code === 'bad_pin' || e?.code === 'bad_confirmation')) {
        pinError.value = e.message;
      } else {
        // the draft went out before it was changed: a new key lets the changed one go as another
        if (e?.code === 'idempotency_key_reused') update({ key: newKey() });
        pinOpen.value = false;
        lostNetwork.value = !e || e.status === 0;
        error.value = e ? e.message : t('err.network');
      }
    } finally {
      busy.value = false;
    }
  }

  const toggleZone = (zid: string, on: boolean) =>
    update({ zones: on ? [...d.zones.filter((z) => z !== zid), zid] : d.zones.filter((z) => z !== zid) });

  return (
    <section class="ann">
      <h1>{s('title')}</h1>
      <AllStop />
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <fieldset class="ann-villages">
          <legend>{s('villages')}</legend>
          {zones.value?.length === 0 && <p>{s('noVillages')}</p>}
          {mayAll && zoneList.length > 0 && (
            <label class="ann-check ann-all">
              <input
                type="checkbox"
                checked={d.all}
                onChange={(e) => update({ all: e.currentTarget.checked })}
              />
              <span>{s('allVillages')}</span>
            </label>
          )}
          {zoneList.map((z) => (
            <label key={z.id} class="ann-check">
              <input
                type="checkbox"
                name="zone"
                value={z.id}
                disabled={d.all}
                checked={d.all || d.zones.includes(z.id)}
                onChange={(e) => toggleZone(z.id, e.currentTarget.checked)}
              />
              <span>{z.name}</span>
            </label>
          ))}
        </fieldset>

        <fieldset class="ann-mode">
          <legend>{s('content')}</legend>
          <div class="ann-tabs">
            {(['voice', 'text'] as const).map((m) => (
              <label key={m} class={`ann-tab ${d.mode === m ? 'on' : ''}`}>
                <input
                  type="radio"
                  name="mode"
                  value={m}
                  checked={d.mode === m}
                  onChange={() => update({ mode: m })}
                />
                <span>{m === 'voice' ? s('modeVoice') : s('modeText')}</span>
              </label>
            ))}
          </div>
          {d.mode === 'voice' ? (
            <Recorder
              clip={d.clip}
              clipMs={d.clipMs}
              onClip={(clip, ms) => update({ clip, clipMs: ms, clipAudioId: null })}
            />
          ) : (
            <TextContent draft={d} update={update} />
          )}
        </fieldset>

        <label>
          {s('priority')}
          <select
            name="priority"
            value={d.priority}
            onChange={(e) => {
              const priority = e.currentTarget.value as Draft['priority'];
              update({ priority, repeat: priority === 'emergency' ? 2 : 1 });
            }}
          >
            <option value="emergency">{s('prioEmergency')}</option>
            <option value="priority">{s('prioPriority')}</option>
            <option value="normal">{s('prioNormal')}</option>
          </select>
        </label>
        <div class="ann-row">
          <label>
            {s('repeat')}
            <select
              name="repeat"
              value={String(d.repeat)}
              onChange={(e) => update({ repeat: Number(e.currentTarget.value) })}
            >
              {[1, 2, 3, 4, 5, 10].map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <label>
            {s('volume')}
            <select
              name="volume"
              value={d.volume === null ? '' : String(d.volume)}
              onChange={(e) => {
                const v = e.currentTarget.value;
                update({ volume: v === '' ? null : Number(v) });
              }}
            >
              {VOLUMES.map((v) => (
                <option key={String(v)} value={v === null ? '' : String(v)}>
                  {v === null ? s('volumeDefault') : `${v}%`}
                </option>
              ))}
            </select>
          </label>
        </div>

        {error.value && !backOnline.value && (
          <p role="alert" class="error">
            {error.value}
          </p>
        )}
        {backOnline.value && (
          <p role="status" class="warn">
            {s('backOnline')}
          </p>
        )}
        <button type="submit" class="primary big ann-send" disabled={busy.value}>
          {busy.value && !pinOpen.value ? s('sending') : s('send')}
        </button>
        <p class="muted ann-draft-note">{s('draftKept')}</p>
      </form>
      <PinDialog
        open={pinOpen.value}
        busy={busy.value}
        error={pinError.value}
        summed={pinSummed.value}
        onConfirm={(pin) => void send(pin)}
        onCancel={() => {
          pinOpen.value = false;
          pinError.value = '';
        }}
      />
    </section>
  );
}
