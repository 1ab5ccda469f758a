/**
 * The audio library: upload (with progress), the list newest first, and one audio's page
 * (/library/:id) with its preview player, metadata, renditions and delete.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { ApiError, api, hasRole } from '../api';
import { formatDateTime, strings, t } from '../i18n';
import { AudioDetailView } from '../library/detail';
import { formatDuration, formatSize } from '../library/format';
import type { AudioItem } from '../library/types';
import { UploadForm } from '../library/upload-form';
import '../library/library.css';

const s = strings(
  {
    title: 'Thư viện âm thanh',
    empty: 'Thư viện chưa có âm thanh nào. Tải tệp lên ở trên.',
    count: '{n} âm thanh',
    deleted: 'Đã xoá.',
  },
  {
    title: 'Audio library',
    empty: 'The library has no audio yet. Upload a file above.',
    count: '{n} audio files',
    deleted: 'Deleted.',
  },
);

export function Library() {
  const { path, route } = useLocation();
  const items = useSignal<AudioItem[] | null>(null);
  const error = useSignal('');
  const notice = useSignal('');
  const id = path.startsWith('/library/') ? decodeURIComponent(path.slice('/library/'.length)) : '';

  async function load() {
    try {
      items.value = (await api<{ items: AudioItem[] }>('GET', '/api/audio')).items;
      error.value = '';
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    }
  }
  useEffect(() => {
    void load();
  }, []);

  if (id)
    return (
      <section class="library">
        <AudioDetailView
          id={id}
          onDeleted={(gone) => {
            items.value = items.value?.filter((a) => a.id !== gone) ?? null;
            notice.value = s('deleted');
            route('/library');
          }}
        />
      </section>
    );

  return (
    <section class="library stack">
      <h1>{s('title')}</h1>
      {hasRole('editor', 'operator') && (
        <UploadForm
          onUploaded={(a) => {
            notice.value = '';
            items.value = [a, ...(items.value ?? []).filter((x) => x.id !== a.id)];
          }}
        />
      )}
      {notice.value && (
        <p role="status" class="ok">
          {notice.value}
        </p>
      )}
      {error.value && (
        <p role="alert" class="error">
          {error.value}{' '}
          <button type="button" class="link" onClick={() => void load()}>
            {t('common.retry')}
          </button>
        </p>
      )}
      {items.value === null && !error.value && <p>{t('common.loading')}</p>}
      {items.value?.length === 0 && <p class="muted">{s('empty')}</p>}
      {items.value && items.value.length > 0 && <p class="muted">{s('count', { n: items.value.length })}</p>}
      <ul class="audio-list">
        {items.value?.map((a) => (
          <li key={a.id} data-audio={a.id}>
            <a href={`/library/${encodeURIComponent(a.id)}`}>
              <span class="name">{a.name}</span>
              <span class="muted">
                {formatDuration(a.durationMs)} · {formatSize(a.size)} · {formatDateTime(a.createdAt)}
              </span>
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
