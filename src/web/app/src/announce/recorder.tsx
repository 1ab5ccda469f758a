/**
 * Records the officer's voice with MediaRecorder (Opus first; Safari's AAC is turned into WAV in
 * the page, see src/web/wav-encode.ts) and plays it back before it is sent.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { needsWav, pickRecorderMime, recordingToWav } from '../../../wav-encode';
import { formatNumber } from '../i18n';
import { s } from './words';

interface Props {
  clip: Blob | null;
  clipMs: number;
  onClip: (clip: Blob | null, ms: number) => void;
}

const seconds = (ms: number) => formatNumber(Math.round(ms / 100) / 10);

export function Recorder({ clip, clipMs, onClip }: Props) {
  const recording = useSignal(false);
  const elapsed = useSignal(0);
  const error = useSignal('');
  const url = useSignal('');
  const rec = useRef<{ recorder: MediaRecorder; stream: MediaStream; started: number; timer: number } | null>(
    null,
  );

  useEffect(() => {
    if (!clip) {
      url.value = '';
      return;
    }
    const u = URL.createObjectURL(clip);
    url.value = u;
    return () => URL.revokeObjectURL(u);
  }, [clip]);

  // leaving the screen mid-recording releases the microphone
  useEffect(
    () => () => {
      const r = rec.current;
      if (r) {
        clearInterval(r.timer);
        r.stream.getTracks().forEach((tr) => {
          tr.stop();
        });
      }
    },
    [],
  );

  async function start() {
    error.value = '';
    if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined') {
      error.value = s('micMissing');
      return;
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      error.value = s('micDenied');
      return;
    }
    const mimeType = pickRecorderMime((m) => MediaRecorder.isTypeSupported(m));
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
    const chunks: Blob[] = [];
    recorder.ondataavailable = (e) => {
      if (e.data.size > 0) chunks.push(e.data);
    };
    recorder.onstop = async () => {
      const r = rec.current;
      rec.current = null;
      if (r) clearInterval(r.timer);
      stream.getTracks().forEach((tr) => {
        tr.stop();
      });
      recording.value = false;
      const ms = r ? performance.now() - r.started : 0;
      const type = recorder.mimeType || chunks[0]?.type || 'audio/webm';
      let blob = new Blob(chunks, { type });
      if (needsWav(type)) {
        try {
          blob = new Blob([(await recordingToWav(await blob.arrayBuffer())) as BlobPart], {
            type: 'audio/wav',
          });
        } catch {
          error.value = s('micMissing');
          return;
        }
      }
      onClip(blob, ms);
    };
    const started = performance.now();
    elapsed.value = 0;
    const timer = window.setInterval(() => {
      elapsed.value = performance.now() - started;
    }, 200);
    rec.current = { recorder, stream, started, timer };
    recorder.start();
    recording.value = true;
  }

  function stop() {
    const r = rec.current;
    if (r && r.recorder.state !== 'inactive') r.recorder.stop();
  }

  return (
    <div class="ann-recorder stack">
      {recording.value ? (
        <>
          <p role="status" class="ann-rec-live">
            <span class="ann-rec-dot" aria-hidden="true" /> {s('recording', { s: seconds(elapsed.value) })}
          </p>
          <button type="button" class="big primary" onClick={stop}>
            ■ {s('recStop')}
          </button>
        </>
      ) : clip ? (
        <>
          <p>{s('recReady', { s: seconds(clipMs) })}</p>
          {/* biome-ignore lint/a11y/useMediaCaption: the officer's own voice, just recorded */}
          <audio controls src={url.value} class="ann-player" data-testid="clip-player" />
          <button type="button" class="big" onClick={() => onClip(null, 0)}>
            ↺ {s('recAgain')}
          </button>
        </>
      ) : (
        <>
          <p class="muted">{s('recNone')}</p>
          <button type="button" class="big" onClick={() => void start()}>
            ● {s('recStart')}
          </button>
        </>
      )}
      {error.value && (
        <p role="alert" class="error">
          {error.value}
        </p>
      )}
    </div>
  );
}
