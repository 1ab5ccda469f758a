/**
 * Choose an audio file, name it, upload it with a progress bar. A dropped connection keeps the
 * chosen file and the name on the page, with a retry.
 */
import { useSignal } from '@preact/signals';
import { useRef } from 'preact/hooks';
import { ApiError } from '../api';
import { formatNumber, strings, t } from '../i18n';
import { Notice } from '../ui/notice';
import type { AudioItem } from './types';
import { uploadAudio } from './upload';

const s = strings(
  {
    title: 'Tải âm thanh lên',
    file: 'Tệp âm thanh (MP3, WAV, OGG, M4A)',
    name: 'Tên hiển thị (không bắt buộc)',
    submit: 'Tải lên',
    progress: 'Tiến độ tải lên',
    uploading: 'Đang tải lên… {pct}%',
    done: 'Đã tải lên “{name}”.',
    same: '“{name}” đã có sẵn trong thư viện.',
    pick: 'Hãy chọn một tệp âm thanh trước.',
    choose: 'Chọn tệp',
    none: 'Chưa chọn tệp',
  },
  {
    title: 'Upload audio',
    file: 'Audio file (MP3, WAV, OGG, M4A)',
    name: 'Display name (optional)',
    submit: 'Upload',
    progress: 'Upload progress',
    uploading: 'Uploading… {pct}%',
    done: 'Uploaded “{name}”.',
    same: '“{name}” is already in the library.',
    pick: 'Choose an audio file first.',
    choose: 'Choose file',
    none: 'No file chosen',
  },
);

const NAME_DRAFT = 'library.uploadName';

export function UploadForm({ onUploaded }: { onUploaded: (audio: AudioItem) => void }) {
  const file = useSignal<File | null>(null);
  const name = useSignal(localStorage.getItem(NAME_DRAFT) ?? '');
  const progress = useSignal<number | null>(null);
  const error = useSignal('');
  const notice = useSignal('');
  const input = useRef<HTMLInputElement>(null);

  async function submit(e: Event) {
    e.preventDefault();
    error.value = '';
    notice.value = '';
    if (!file.value) {
      error.value = s('pick');
      input.current?.focus();
      return;
    }
    progress.value = 0;
    try {
      const r = await uploadAudio(file.value, name.value, (f) => {
        progress.value = f;
      });
      notice.value = s(r.created ? 'done' : 'same', { name: r.audio.name });
      file.value = null;
      name.value = '';
      localStorage.removeItem(NAME_DRAFT);
      if (input.current) input.current.value = '';
      onUploaded(r.audio);
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      progress.value = null;
    }
  }

  const pct = progress.value === null ? 0 : Math.round(progress.value * 100);
  return (
    <form class="card stack upload" onSubmit={submit} aria-busy={progress.value !== null}>
      <h2>{s('title')}</h2>
      <div class="field">
        <span id="upload-file-label" class="label">
          {s('file')}
        </span>
        <label class="file-pick">
          <input
            ref={input}
            type="file"
            name="file"
            class="sr-only"
            aria-labelledby="upload-file-label"
            accept="audio/*,.mp3,.wav,.ogg,.opus,.m4a,.webm"
            onChange={(e) => {
              file.value = e.currentTarget.files?.[0] ?? null;
              error.value = '';
            }}
          />
          <span class="pick" aria-hidden="true">
            {s('choose')}
          </span>
          <span class="chosen" aria-hidden="true">
            {file.value?.name ?? s('none')}
          </span>
        </label>
      </div>
      <label>
        {s('name')}
        <input
          type="text"
          name="name"
          maxLength={200}
          value={name.value}
          onInput={(e) => {
            name.value = e.currentTarget.value;
            localStorage.setItem(NAME_DRAFT, name.value);
          }}
        />
      </label>
      {progress.value !== null && (
        <div class="progress" role="status">
          <progress max={100} value={pct} aria-label={s('progress')} />
          <span>{s('uploading', { pct: formatNumber(pct) })}</span>
        </div>
      )}
      <Notice error={error.value} done={notice.value} />
      <button type="submit" class="primary big" disabled={progress.value !== null}>
        {error.value && file.value ? t('common.retry') : s('submit')}
      </button>
    </form>
  );
}
