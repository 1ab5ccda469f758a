/**
 * One audio: a preview player (the session cookie authenticates the content URL), its metadata,
 * its small 4G renditions, and delete (refused in plain words while a bulletin uses it).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api, hasRole } from '../api';
import { formatNumber, strings, t } from '../i18n';
import { Confirm } from '../ui/confirm';
import { formatBitrate, formatDateLong, formatDuration, formatSize } from './format';
import type { AudioDetail } from './types';

const s = strings(
  {
    back: '‹ Thư viện',
    preview: 'Nghe thử',
    duration: 'Thời lượng',
    codec: 'Định dạng',
    bitrate: 'Tốc độ bit',
    sampleRate: 'Tần số mẫu',
    channels: 'Kênh',
    mono: 'Mono',
    stereo: 'Stereo',
    size: 'Dung lượng',
    created: 'Ngày tải lên',
    source: 'Nguồn',
    'source.upload': 'Tải lên',
    'source.recording': 'Ghi âm',
    'source.tts': 'Đọc từ văn bản',
    renditions: 'Bản nhẹ cho 4G',
    noRenditions: 'Chưa có bản nhẹ. Máy chủ tạo khi cần (với giọng nói chất lượng cao).',
    pending: 'Đang tạo bản nhẹ…',
    delete: 'Xoá âm thanh này',
    confirm: 'Xoá “{name}”? Không thể hoàn tác.',
    yes: 'Xoá',
  },
  {
    back: '‹ Library',
    preview: 'Preview',
    duration: 'Duration',
    codec: 'Format',
    bitrate: 'Bitrate',
    sampleRate: 'Sample rate',
    channels: 'Channels',
    mono: 'Mono',
    stereo: 'Stereo',
    size: 'Size',
    created: 'Uploaded',
    source: 'Source',
    'source.upload': 'Upload',
    'source.recording': 'Recording',
    'source.tts': 'Text to speech',
    renditions: 'Light copies for 4G',
    noRenditions: 'No light copies yet. The server makes them when needed (for high-quality speech).',
    pending: 'Making light copies…',
    delete: 'Delete this audio',
    confirm: 'Delete “{name}”? This cannot be undone.',
    yes: 'Delete',
  },
);

const sourceKey = (src: string) =>
  src === 'recording' || src === 'tts' ? (`source.${src}` as const) : ('source.upload' as const);

export function AudioDetailView({ id, onDeleted }: { id: string; onDeleted: (id: string) => void }) {
  const audio = useSignal<AudioDetail | null>(null);
  const error = useSignal('');
  const confirming = useSignal(false);
  const busy = useSignal(false);

  useEffect(() => {
    audio.value = null;
    error.value = '';
    api<AudioDetail>('GET', `/api/audio/${encodeURIComponent(id)}`)
      .then((a) => {
        audio.value = a;
      })
      .catch((err: unknown) => {
        error.value = err instanceof ApiError ? err.message : t('err.network');
      });
  }, [id]);

  async function remove() {
    busy.value = true;
    error.value = '';
    try {
      await api('DELETE', `/api/audio/${encodeURIComponent(id)}`);
      onDeleted(id);
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
      confirming.value = false;
    } finally {
      busy.value = false;
    }
  }

  const a = audio.value;
  return (
    <article class="detail stack" aria-busy={!a && !error.value}>
      <a href="/library" class="back">
        {s('back')}
      </a>
      {!a && !error.value && <p>{t('common.loading')}</p>}
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
      {a && (
        <>
          <h1>{a.name}</h1>
          <div class="player">
            <span id="preview-label" class="label">
              {s('preview')}
            </span>
            {/* biome-ignore lint/a11y/useMediaCaption: speech bulletins have no caption track */}
            <audio
              controls
              preload="metadata"
              aria-labelledby="preview-label"
              src={`/api/audio/${encodeURIComponent(a.id)}/content`}
            />
          </div>
          <dl class="meta">
            <dt>{s('duration')}</dt>
            <dd data-field="duration">{formatDuration(a.durationMs)}</dd>
            <dt>{s('codec')}</dt>
            <dd data-field="codec">{[a.codec, a.container].filter(Boolean).join(' / ') || a.mime}</dd>
            <dt>{s('bitrate')}</dt>
            <dd>{formatBitrate(a.bitrate)}</dd>
            {a.sampleRate !== null && (
              <>
                <dt>{s('sampleRate')}</dt>
                <dd>{formatNumber(a.sampleRate)} Hz</dd>
              </>
            )}
            {a.channels !== null && (
              <>
                <dt>{s('channels')}</dt>
                <dd>{a.channels === 1 ? s('mono') : a.channels === 2 ? s('stereo') : a.channels}</dd>
              </>
            )}
            <dt>{s('size')}</dt>
            <dd data-field="size">{formatSize(a.size)}</dd>
            <dt>{s('created')}</dt>
            <dd data-field="created">{formatDateLong(a.createdAt)}</dd>
            <dt>{s('source')}</dt>
            <dd>{s(sourceKey(a.source))}</dd>
          </dl>
          <section aria-labelledby="renditions-h">
            <h2 id="renditions-h">{s('renditions')}</h2>
            {a.renditionsPending && <p role="status">{s('pending')}</p>}
            {a.renditions.length === 0 && !a.renditionsPending && <p class="muted">{s('noRenditions')}</p>}
            <ul class="renditions">
              {a.renditions.map((r) => (
                <li key={r.codec} data-rendition={r.codec}>
                  <strong>{r.codec.toUpperCase()}</strong> {formatBitrate(r.bitrate)} · {formatSize(r.size)} ·{' '}
                  {formatDuration(r.durationMs)}
                </li>
              ))}
            </ul>
          </section>
          {hasRole('editor') &&
            (confirming.value ? (
              <Confirm
                label={s('delete')}
                question={s('confirm', { name: a.name })}
                yes={s('yes')}
                busy={busy.value}
                onNo={() => (confirming.value = false)}
                onYes={() => void remove()}
              />
            ) : (
              <button type="button" class="danger big" onClick={() => (confirming.value = true)}>
                {s('delete')}
              </button>
            ))}
        </>
      )}
    </article>
  );
}
