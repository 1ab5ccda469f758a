/**
 * Typed text for text-to-speech, with voice and speed, and "listen first": the preview is the
 * very audio the announcement will use (same text, voice and speed → the controller's cache).
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError, api } from '../api';
import { t } from '../i18n';
import type { Draft } from './draft';
import { s } from './words';

interface Preview {
  contentUrl: string;
  spoken: string;
}

const SPEEDS = [
  { v: 0.8, key: 'speedSlow' },
  { v: 1, key: 'speedNormal' },
  { v: 1.25, key: 'speedFast' },
] as const;

export function TextContent({ draft, update }: { draft: Draft; update: (p: Partial<Draft>) => void }) {
  const preview = useSignal<(Preview & { of: string }) | null>(null);
  const busy = useSignal(false);
  const error = useSignal('');
  const player = useRef<HTMLAudioElement>(null);
  const key = `${draft.voice}|${draft.speed}|${draft.text.trim()}`;

  async function listen() {
    error.value = '';
    if (!draft.text.trim()) {
      error.value = s('textNeeded');
      return;
    }
    busy.value = true;
    try {
      const p = await api<Preview>('POST', '/api/tts/preview', {
        text: draft.text,
        voice: draft.voice,
        speed: draft.speed,
      });
      preview.value = { ...p, of: key };
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }

  const p = preview.value?.of === key ? preview.value : null;
  // a tap asked for it: play it at once (a browser refusing autoplay leaves the controls)
  useEffect(() => {
    if (p) void player.current?.play().catch(() => undefined);
  }, [p?.contentUrl]);
  return (
    <div class="stack">
      <label>
        {s('text')}
        <textarea
          name="text"
          rows={5}
          maxLength={5000}
          value={draft.text}
          onInput={(e) => update({ text: e.currentTarget.value })}
        />
      </label>
      <div class="ann-row">
        <label>
          {s('voice')}
          <select
            name="voice"
            value={draft.voice}
            onChange={(e) => update({ voice: e.currentTarget.value as Draft['voice'] })}
          >
            <option value="north">{s('voiceNorth')}</option>
            <option value="central">{s('voiceCentral')}</option>
            <option value="south">{s('voiceSouth')}</option>
          </select>
        </label>
        <label>
          {s('speed')}
          <select
            name="speed"
            value={String(draft.speed)}
            onChange={(e) => update({ speed: Number(e.currentTarget.value) })}
          >
            {SPEEDS.map((sp) => (
              <option key={sp.v} value={String(sp.v)}>
                {s(sp.key)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <button type="button" class="big" disabled={busy.value} onClick={() => void listen()}>
        ▶ {busy.value ? s('listening') : s('listen')}
      </button>
      {p && (
        <div class="stack ann-preview">
          {/* biome-ignore lint/a11y/useMediaCaption: the caption is the text just above */}
          <audio ref={player} controls src={p.contentUrl} data-testid="tts-preview" />
          <p class="muted">{s('spoken', { text: p.spoken })}</p>
        </div>
      )}
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
    </div>
  );
}
