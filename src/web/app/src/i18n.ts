/**
 * Vietnamese first, English second: every word the app shows comes from these two tables, chosen
 * by the `lang` signal (kept on the phone). Dates and numbers go through Intl with vi-VN / en-GB.
 */
import { computed, signal } from '@preact/signals';

const vi = {
  appName: 'Loa làng',
  'nav.today': 'Hôm nay',
  'nav.announce': 'Thông báo',
  'nav.library': 'Thư viện',
  'nav.programs': 'Lịch phát',
  'nav.more': 'Thêm',
  'login.title': 'Đăng nhập',
  'login.username': 'Tên đăng nhập',
  'login.password': 'Mật khẩu',
  'login.submit': 'Đăng nhập',
  'login.hint': 'Dùng tài khoản cán bộ do quản trị viên cấp.',
  'lang.switch': 'English',
  'today.title': 'Hôm nay',
  'today.online': 'Trực tuyến',
  'today.offline': 'Mất kết nối',
  'today.playing': 'Đang phát',
  'today.idle': 'Đang nghỉ',
  'today.volume': 'Âm lượng',
  'today.signal': 'Sóng',
  'today.noVillages': 'Chưa có thôn nào. Quản trị viên thêm thôn và cụm loa trước.',
  'today.offlineAlert': '{n} cụm loa mất kết nối',
  'today.receivers': '{online}/{total} cụm loa trực tuyến',
  'common.loading': 'Đang tải…',
  'common.retry': 'Thử lại',
  'common.logout': 'Đăng xuất',
  'common.cancel': 'Huỷ',
  'common.save': 'Lưu',
  'common.close': 'Đóng',
  'err.network': 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại; nội dung đang nhập vẫn được giữ.',
  'err.unauthorized': 'Phiên đăng nhập đã hết. Hãy đăng nhập lại.',
  'err.forbidden': 'Tài khoản của bạn không có quyền làm việc này.',
  'err.bad_credentials': 'Sai tên đăng nhập hoặc mật khẩu.',
  'err.locked': 'Tài khoản tạm khoá vì nhập sai nhiều lần. Chờ ít phút hoặc nhờ quản trị viên mở khoá.',
  'err.rate_limited': 'Thao tác quá nhanh. Chờ một chút rồi thử lại.',
  'err.validation': 'Thông tin chưa đúng: {detail}',
  'err.confirmation_required': 'Thông báo khẩn tới mọi thôn cần nhập mã PIN để xác nhận.',
  'err.bad_pin': 'Mã PIN không đúng. Thông báo chưa được gửi.',
  'err.idempotency_key_in_use': 'Lần gửi trước vẫn đang được xử lý. Chờ vài giây rồi bấm gửi lại.',
  'err.idempotency_key_reused':
    'Bản trước khi sửa đã được gửi đi rồi (mạng mất câu trả lời). Nếu vẫn cần phát bản đã sửa, bấm “Phát thông báo” lần nữa.',
  'err.tts_unavailable': 'Không đọc được văn bản thành giọng nói lúc này. Hãy ghi âm giọng nói thay thế.',
  'err.unsupported_media': 'Định dạng tệp không dùng được. Hãy chọn MP3, WAV, OGG hoặc ghi âm lại.',
  'err.too_large': 'Tệp quá lớn.',
  'err.audio_in_use':
    'Âm thanh này đang được một thông báo hoặc lịch phát dùng. Dừng hoặc sửa thông báo đó trước rồi xoá.',
  'err.not_found': 'Không tìm thấy mục này; có thể người khác vừa xoá. Tải lại danh sách.',
  'err.receiver_exists': 'Mã cụm loa này đã được đăng ký rồi. Dùng "Cấp lại mật khẩu" nếu cần cài lại.',
  'err.receiver_adopted': 'Cụm loa này đã được nhận rồi.',
  'err.receiver_pending': 'Cụm loa chưa được nhận: hãy nhận nó vào một thôn trước.',
  'err.reserved_id': 'Mã này là tên riêng của máy chủ; hãy chọn mã khác.',
  'err.unreadable_audio': 'Không đọc được tệp âm thanh này (có thể bị hỏng). Hãy chọn tệp khác.',
  'err.empty_file': 'Tệp rỗng. Hãy chọn tệp âm thanh khác.',
  'err.audio_too_long': 'Âm thanh quá dài. Hãy cắt ngắn rồi tải lên lại.',
  'err.unknown': 'Có lỗi xảy ra ({code}). Thử lại; nếu vẫn lỗi, báo quản trị viên.',
};
type Key = keyof typeof vi;

const en: Record<Key, string> = {
  appName: 'Loa làng',
  'nav.today': 'Today',
  'nav.announce': 'Announce',
  'nav.library': 'Library',
  'nav.programs': 'Programs',
  'nav.more': 'More',
  'login.title': 'Log in',
  'login.username': 'Username',
  'login.password': 'Password',
  'login.submit': 'Log in',
  'login.hint': 'Use the officer account your administrator gave you.',
  'lang.switch': 'Tiếng Việt',
  'today.title': 'Today',
  'today.online': 'Online',
  'today.offline': 'Offline',
  'today.playing': 'Playing',
  'today.idle': 'Idle',
  'today.volume': 'Volume',
  'today.signal': 'Signal',
  'today.noVillages': 'No villages yet. An administrator adds villages and receivers first.',
  'today.offlineAlert': '{n} receivers offline',
  'today.receivers': '{online}/{total} receivers online',
  'common.loading': 'Loading…',
  'common.retry': 'Retry',
  'common.logout': 'Log out',
  'common.cancel': 'Cancel',
  'common.save': 'Save',
  'common.close': 'Close',
  'err.network': 'Cannot reach the server. Check the network and retry; what you typed is kept.',
  'err.unauthorized': 'Your session has ended. Please log in again.',
  'err.forbidden': 'Your account may not do this.',
  'err.bad_credentials': 'Wrong username or password.',
  'err.locked': 'Locked after too many wrong attempts. Wait a few minutes or ask an administrator.',
  'err.rate_limited': 'Too fast. Wait a moment and retry.',
  'err.validation': 'Please check: {detail}',
  'err.confirmation_required': 'An emergency to every village needs your PIN to confirm.',
  'err.bad_pin': 'Wrong PIN. The announcement was not sent.',
  'err.idempotency_key_in_use': 'The previous send is still being processed. Wait a few seconds and retry.',
  'err.idempotency_key_reused':
    'The draft was already sent before your change (the network lost the answer). To announce the changed one too, tap “Announce” again.',
  'err.tts_unavailable': 'Text-to-speech is not available now. Record your voice instead.',
  'err.unsupported_media': 'This file format cannot be used. Choose MP3, WAV, OGG or record again.',
  'err.too_large': 'The file is too large.',
  'err.audio_in_use': 'A bulletin or program is using this audio. Stop or edit it first, then delete.',
  'err.not_found': 'This item was not found; someone may have just deleted it. Reload the list.',
  'err.receiver_exists':
    'This receiver id is already registered. Use "Re-issue credentials" to reinstall it.',
  'err.receiver_adopted': 'This receiver is already adopted.',
  'err.receiver_pending': 'This receiver is not adopted yet: adopt it into a village first.',
  'err.reserved_id': "This id is the server's own name; choose another.",
  'err.unreadable_audio': 'This audio file cannot be read (it may be damaged). Choose another file.',
  'err.empty_file': 'The file is empty. Choose another audio file.',
  'err.audio_too_long': 'The audio is too long. Shorten it and upload again.',
  'err.unknown': 'Something went wrong ({code}). Retry; if it persists, tell your administrator.',
};

export type Lang = 'vi' | 'en';
const stored = typeof localStorage !== 'undefined' ? localStorage.getItem('lang') : null;
export const lang = signal<Lang>(stored === 'en' ? 'en' : 'vi');
export const locale = computed(() => (lang.value === 'vi' ? 'vi-VN' : 'en-GB'));

export function setLang(next: Lang): void {
  lang.value = next;
  localStorage.setItem('lang', next);
  document.documentElement.lang = next;
}

/** The text of `key` in the current language, with `{name}` placeholders filled. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const table = lang.value === 'vi' ? vi : en;
  return table[key].replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? ''));
}

/** Whether `key` is a word of the tables (for API error codes). */
export const hasKey = (key: string): key is Key => key in vi;

export const formatDateTime = (iso: string): string =>
  new Intl.DateTimeFormat(locale.value, { dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso));
export const formatTime = (iso: string): string =>
  new Intl.DateTimeFormat(locale.value, { timeStyle: 'short' }).format(new Date(iso));
export const formatNumber = (n: number): string => new Intl.NumberFormat(locale.value).format(n);

/**
 * A screen's own words, Vietnamese and English side by side (English must have every key):
 * `const s = strings({ title: 'Thư viện' }, { title: 'Library' }); s('title')`.
 */
export function strings<T extends Record<string, string>>(
  viTable: T,
  enTable: Record<keyof T, string>,
): (key: keyof T, vars?: Record<string, string | number>) => string {
  return (key, vars = {}) =>
    (lang.value === 'vi' ? viTable : enTable)[key].replace(/\{(\w+)\}/g, (_, name: string) =>
      String(vars[name] ?? ''),
    );
}
