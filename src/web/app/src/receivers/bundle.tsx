/**
 * A provisioning bundle, shown this once (the server keeps only the password's hash): as text to
 * copy or save as a file for the installer. It lives in memory only, never in storage.
 * No QR encoder ships with the app yet (none is installed, and no dependency was added).
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { strings } from '../i18n';

const s = strings(
  {
    title: 'Thông tin cài đặt cho {id}',
    once: 'Chỉ hiện MỘT lần: máy chủ không lưu mật khẩu. Sao chép hoặc tải tệp về và cài lên cụm loa ngay.',
    text: 'Nội dung cài đặt (JSON)',
    copy: 'Sao chép',
    copied: 'Đã sao chép.',
    copyFailed: 'Không sao chép được; chọn toàn bộ nội dung rồi sao chép bằng tay.',
    download: 'Tải tệp về',
    done: 'Tôi đã lưu, đóng lại',
  },
  {
    title: 'Set-up details for {id}',
    once: 'Shown ONCE: the server does not keep the password. Copy it or download the file and install it on the receiver now.',
    text: 'Set-up details (JSON)',
    copy: 'Copy',
    copied: 'Copied.',
    copyFailed: 'Could not copy; select all of the text and copy it by hand.',
    download: 'Download file',
    done: 'I saved it, close',
  },
);

export interface Bundle {
  receiverId: string;
  [key: string]: unknown;
}

export function BundlePanel({ bundle, onClose }: { bundle: Bundle; onClose: () => void }) {
  const text = JSON.stringify(bundle, null, 2);
  const note = useSignal('');
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    // the panel replaces the screen: start at its top, focus on its title for screen readers
    window.scrollTo(0, 0);
    heading.current?.focus({ preventScroll: true });
  }, []);
  const href = `data:application/json;charset=utf-8,${encodeURIComponent(text)}`;

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      note.value = s('copied');
    } catch {
      note.value = s('copyFailed');
    }
  }

  return (
    <section class="bundle card stack" aria-labelledby="bundle-h" data-bundle={bundle.receiverId}>
      <h2 id="bundle-h" ref={heading} tabIndex={-1}>
        {s('title', { id: bundle.receiverId })}
      </h2>
      <p class="warn">{s('once')}</p>
      <label>
        {s('text')}
        <textarea readOnly rows={8} value={text} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <div class="row">
        <button type="button" onClick={() => void copy()}>
          {s('copy')}
        </button>
        <a class="button" href={href} download={`loalang-${bundle.receiverId}.json`}>
          {s('download')}
        </a>
      </div>
      {note.value && <p role="status">{note.value}</p>}
      <button type="button" class="primary big" onClick={onClose}>
        {s('done')}
      </button>
    </section>
  );
}
