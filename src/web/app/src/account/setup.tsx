/**
 * First-run set-up: a controller started with no account and no ADMIN_PASSWORD printed a one-time
 * code in its log; whoever runs it enters the code here and chooses the admin's name and password,
 * then the app logs in with them.
 */
import { useSignal } from '@preact/signals';
import { ApiError, api, login } from '../api';
import { strings, t } from '../i18n';

const s = strings(
  {
    title: 'Thiết lập lần đầu',
    hint: 'Máy chủ chưa có tài khoản nào. Nhập mã thiết lập in trong nhật ký (log) của máy chủ khi khởi động, rồi chọn tên và mật khẩu quản trị viên.',
    code: 'Mã thiết lập (ví dụ K7QM-3XPA-W9TD)',
    username: 'Tên đăng nhập của quản trị viên',
    password: 'Mật khẩu quản trị viên (ít nhất 10 ký tự)',
    again: 'Nhập lại mật khẩu',
    submit: 'Tạo quản trị viên và đăng nhập',
    mismatch: 'Hai lần nhập mật khẩu không giống nhau.',
    tooShort: 'Mật khẩu cần ít nhất 10 ký tự.',
    badCode: 'Mã thiết lập không đúng. Chép lại mã trong nhật ký máy chủ (mã đổi mỗi lần khởi động lại).',
    done: 'Máy chủ đã được thiết lập. Hãy đăng nhập.',
    haveAccount: 'Đã có tài khoản? Đăng nhập',
  },
  {
    title: 'First set-up',
    hint: "The server has no account yet. Enter the set-up code printed in the server's log at start, then choose the admin's name and password.",
    code: 'Set-up code (e.g. K7QM-3XPA-W9TD)',
    username: "Admin's username",
    password: "Admin's password (at least 10 characters)",
    again: 'Password again',
    submit: 'Create the admin and log in',
    mismatch: 'The two passwords differ.',
    tooShort: 'The password needs at least 10 characters.',
    badCode: "Wrong set-up code. Copy it again from the server's log (it changes at every restart).",
    done: 'The server is already set up. Please log in.',
    haveAccount: 'Have an account? Log in',
  },
);

export function FirstSetup({ onDone }: { onDone: () => void }) {
  const code = useSignal('');
  const username = useSignal('admin');
  const password = useSignal('');
  const again = useSignal('');
  const error = useSignal('');
  const busy = useSignal(false);
  async function submit(e: Event) {
    e.preventDefault();
    error.value = '';
    if (password.value.length < 10) {
      error.value = s('tooShort');
      return;
    }
    if (password.value !== again.value) {
      error.value = s('mismatch');
      return;
    }
    busy.value = true;
    try {
      const name = username.value.trim();
      await api('POST', '/api/auth/setup', { code: code.value, username: name, password: password.value });
      await login(name, password.value);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_set_up') return onDone();
      error.value =
        err instanceof ApiError
          ? err.code === 'bad_setup_code'
            ? s('badCode')
            : err.message
          : t('err.network');
    } finally {
      busy.value = false;
    }
  }
  const field = (
    sig: typeof code,
    name: string,
    label: string,
    extra: Record<string, string | boolean> = {},
  ) => (
    <label>
      {label}
      <input
        name={name}
        required
        value={sig.value}
        onInput={(e) => {
          sig.value = e.currentTarget.value;
        }}
        {...extra}
      />
    </label>
  );
  return (
    <main class="narrow">
      <h1>{s('title')}</h1>
      <p class="muted">{s('hint')}</p>
      <form onSubmit={submit} class="stack">
        {field(code, 'setupCode', s('code'), { autocapitalize: 'characters', autocomplete: 'one-time-code' })}
        {field(username, 'username', s('username'), { autocapitalize: 'none', autocomplete: 'username' })}
        {field(password, 'password', s('password'), { type: 'password', autocomplete: 'new-password' })}
        {field(again, 'passwordAgain', s('again'), { type: 'password', autocomplete: 'new-password' })}
        {error.value && (
          <p role="alert" class="error">
            {error.value}
          </p>
        )}
        <button type="submit" class="primary big" disabled={busy.value}>
          {s('submit')}
        </button>
      </form>
      <button type="button" class="link" onClick={onDone}>
        {s('haveAccount')}
      </button>
    </main>
  );
}
