/**
 * An audio upload with progress: fetch cannot report upload progress, XMLHttpRequest can
 * (`xhr.upload.onprogress`). Same session cookie and CSRF header as `api`, same ApiError words.
 */
import { ApiError, currentCsrf, explain, me } from '../api';
import type { AudioItem } from './types';

export interface UploadResult {
  audio: AudioItem;
  /** false when the same bytes were already in the library */
  created: boolean;
}

/** Uploads `file` (multipart field `file`, optional `name`); `onProgress` gets 0…1 as bytes leave. */
export function uploadAudio(
  file: File,
  name: string,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    if (name.trim()) form.append('name', name.trim());
    form.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/audio');
    xhr.withCredentials = true;
    xhr.setRequestHeader('accept', 'application/json');
    const csrf = currentCsrf();
    if (csrf) xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', explain(0, 'network')));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', explain(0, 'network')));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status === 200 || xhr.status === 201) {
        onProgress(1);
        resolve(body as UploadResult);
        return;
      }
      const code = (body as { error?: string } | null)?.error ?? '';
      if (xhr.status === 401) me.value = null;
      reject(new ApiError(xhr.status, code, explain(xhr.status, code), body));
    };
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
