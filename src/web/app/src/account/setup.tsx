/**
 * First-run set-up: a controller started with no account and no ADMIN_PASSWORD printed a one-time
 * code in its log; whoever runs it enters the code here and chooses the admin's name and password,
 * then the app logs in with them.
 */
import { useSignal } from '@preact/signals';
import { ApiError, api, errorText, login } from '../api';
import { strings } from '../i18n';
import { useAction } from '../ui/action';
import { Field } from '../ui/field';
import { Notice } from '../ui/notice';

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
  const { error, busy, run } = useAction((err) =>
    err instanceof ApiError && err.code === 'bad_setup_code' ? s('badCode') : errorText(err),
  );
  function submit(e: Event) {
    e.preventDefault();
    const refusal =
      password.value.length < 10 ? s('tooShort') : password.value !== again.value ? s('mismatch') : '';
    void run(refusal, async () => {
      const name = username.value.trim();
      try {
        await api('POST', '/api/auth/setup', { code: code.value, username: name, password: password.value });
      } catch (err) {
        // set up meanwhile (another tab, another officer): the login screen, with no error
        if (err instanceof ApiError && err.code === 'already_set_up') {
          onDone();
          return '';
        }
        throw err;
      }
      await login(name, password.value);
      return '';
    });
  }
  return (
    <main class="narrow">
      <h1>{s('title')}</h1>
      <p class="muted">{s('hint')}</p>
      <form onSubmit={submit} class="stack">
        <Field
          name="setupCode"
          label={s('code')}
          value={code}
          required
          autocapitalize="characters"
          autocomplete="one-time-code"
        />
        <Field
          name="username"
          label={s('username')}
          value={username}
          required
          autocapitalize="none"
          autocomplete="username"
        />
        <Field
          name="password"
          label={s('password')}
          value={password}
          required
          type="password"
          autocomplete="new-password"
        />
        <Field
          name="passwordAgain"
          label={s('again')}
          value={again}
          required
          type="password"
          autocomplete="new-password"
        />
        <Notice error={error.value} />
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
