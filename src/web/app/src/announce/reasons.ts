/**
 * Why a receiver did not play, in words: the delivery state (stopped, cut by another alert,
 * too late) or the receiver's reason code (src/contract/mqtt.ts FAILURE_REASONS). Never the raw code
 * alone.
 */
import { strings } from '../i18n';

const w = strings(
  {
    cancelled: 'Đã dừng theo lệnh',
    preempted: 'Bị thông báo khẩn khác ngắt',
    expired: 'Hết hạn trước khi loa phát được',
    download_failed: 'Loa không tải được âm thanh (mạng yếu)',
    checksum_mismatch: 'Âm thanh tải về bị hỏng',
    size_mismatch: 'Âm thanh tải về bị hỏng',
    unsupported_format: 'Loa không phát được định dạng này',
    storage_full: 'Bộ nhớ của loa đã đầy',
    playback_error: 'Loa gặp lỗi khi phát',
    busy: 'Loa đang bận phát nội dung khác',
    quiet_hours: 'Trong giờ yên tĩnh của thôn, loa không phát tin thường',
    security: 'Loa từ chối lệnh (lỗi xác thực); báo quản trị viên',
    other: 'Loa báo lỗi ({code}); báo quản trị viên nếu còn lặp lại',
  },
  {
    cancelled: 'Stopped on request',
    preempted: 'Cut by another emergency',
    expired: 'Expired before the receiver could play it',
    download_failed: 'The receiver could not download the audio (weak network)',
    checksum_mismatch: 'The downloaded audio was damaged',
    size_mismatch: 'The downloaded audio was damaged',
    unsupported_format: 'The receiver cannot play this format',
    storage_full: "The receiver's storage is full",
    playback_error: 'The receiver failed while playing',
    busy: 'The receiver was busy with something else',
    quiet_hours: "Inside the village's quiet hours, the receiver plays no ordinary news",
    security: 'The receiver refused the command (authentication); tell your administrator',
    other: 'The receiver reported an error ({code}); tell your administrator if it repeats',
  },
);

const SECURITY = new Set([
  'unsigned',
  'unknown_key',
  'bad_signature',
  'wrong_topic',
  'replayed',
  'not_yet_valid',
]);
type Key = Parameters<typeof w>[0];

/** The words for a receiver's failure, from its delivery `state` and `reason` code. */
export function failureText(state: string, reason: string | null): string {
  if (state === 'cancelled' || state === 'preempted') return w(state);
  const code = reason ?? (state === 'expired' ? 'expired' : '');
  if (!code) return w('other', { code: state });
  if (SECURITY.has(code)) return w('security');
  const known: readonly string[] = [
    'expired',
    'download_failed',
    'checksum_mismatch',
    'size_mismatch',
    'unsupported_format',
    'storage_full',
    'playback_error',
    'busy',
    'quiet_hours',
  ];
  return known.includes(code) ? w(code as Key) : w('other', { code });
}
