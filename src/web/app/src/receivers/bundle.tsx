/**
 * A provisioning bundle, shown this once (the server keeps only the password's hash): as a QR code
 * for the installer's phone (or printed), and as text to copy or save as a file. The QR code holds
 * the same JSON without its indentation (a smaller code). It lives in memory only, never in storage.
 */
import { useSignal } from '@preact/signals';
import { useEffect, useRef } from 'preact/hooks';
import { strings } from '../i18n';
import { QrCode } from './qr';

const s = strings(
  {
    title: 'Thông tin cài đặt cho {id}',
    once: 'Chỉ hiện MỘT lần: máy chủ không lưu mật khẩu. Sao chép hoặc tải tệp về và cài lên cụm loa ngay.',
    qr: 'Mã QR chứa thông tin cài đặt cho {id}, cùng nội dung JSON bên dưới',
    qrHint: 'Người lắp đặt quét mã này để lấy thông tin cài đặt.',
    qrTooLong: 'Nội dung quá dài để làm mã QR; hãy tải tệp về thay thế.',
    qrFailed: 'Không hiện được mã QR; hãy tải tệp về thay thế.',
    print: 'In mã QR',
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
    qr: 'QR code of the set-up details for {id}, the same JSON as below',
    qrHint: 'The installer scans this code to get the set-up details.',
    qrTooLong: 'Too long for a QR code; download the file instead.',
    qrFailed: 'Could not show the QR code; download the file instead.',
    print: 'Print QR code',
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
      <figure class="qr-box">
        <QrCode
          text={JSON.stringify(bundle)}
          label={s('qr', { id: bundle.receiverId })}
          tooLong={s('qrTooLong')}
          failed={s('qrFailed')}
        />
        <figcaption>{s('qrHint')}</figcaption>
      </figure>
      <label class="no-print">
        {s('text')}
        <textarea readOnly rows={8} value={text} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <div class="row no-print">
        <button type="button" onClick={() => void copy()}>
          {s('copy')}
        </button>
        <a class="button" href={href} download={`loalang-${bundle.receiverId}.json`}>
          {s('download')}
        </a>
      </div>
      <button type="button" class="no-print" onClick={() => window.print()}>
        {s('print')}
      </button>
      {note.value && <p role="status">{note.value}</p>}
      <button type="button" class="primary big no-print" onClick={onClose}>
        {s('done')}
      </button>
    </section>
  );
}
