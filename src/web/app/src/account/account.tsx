/**
 * My account: change my password (every session of mine ends, so the app logs in again with the
 * new one) and set the PIN that confirms an emergency to every village.
 */
import { useSignal } from '@preact/signals';
import { ApiError, api, errorText, login, me } from '../api';
import { strings } from '../i18n';
import { BackToMore } from '../screens/more';
import { useAction } from '../ui/action';
import { Field, type FieldProps } from '../ui/field';
import { Notice } from '../ui/notice';

const s = strings(
  {
    title: 'Tài khoản của tôi',
    who: 'Đăng nhập là {name}',
    pwTitle: 'Đổi mật khẩu',
    current: 'Mật khẩu hiện tại',
    next: 'Mật khẩu mới (ít nhất 10 ký tự)',
    again: 'Nhập lại mật khẩu mới',
    mismatch: 'Hai lần nhập mật khẩu mới không giống nhau.',
    tooShort: 'Mật khẩu mới cần ít nhất 10 ký tự.',
    revoke: 'Thu hồi luôn mọi mã API của tôi (khi mật khẩu có thể đã lộ)',
    pwSubmit: 'Đổi mật khẩu',
    pwDone: 'Đã đổi mật khẩu. Các thiết bị khác phải đăng nhập lại.',
    pinTitle: 'Mã PIN xác nhận',
    pinHint: 'Mã PIN (6–12 chữ số) được hỏi khi phát thông báo khẩn tới mọi thôn.',
    pinHas: 'Bạn đã có mã PIN; đặt mã mới sẽ thay mã cũ.',
    pin: 'Mã PIN mới',
    pinBad: 'Mã PIN gồm 6 đến 12 chữ số.',
    pinSubmit: 'Đặt mã PIN',
    pinDone: 'Đã đặt mã PIN.',
    wrongCurrent: 'Mật khẩu hiện tại không đúng.',
  },
  {
    title: 'My account',
    who: 'Logged in as {name}',
    pwTitle: 'Change password',
    current: 'Current password',
    next: 'New password (at least 10 characters)',
    again: 'New password again',
    mismatch: 'The two new passwords differ.',
    tooShort: 'The new password needs at least 10 characters.',
    revoke: 'Also revoke all my API tokens (when the password may have leaked)',
    pwSubmit: 'Change password',
    pwDone: 'Password changed. Other devices must log in again.',
    pinTitle: 'Confirmation PIN',
    pinHint: 'The PIN (6–12 digits) is asked for an emergency to every village.',
    pinHas: 'You have a PIN; a new one replaces it.',
    pin: 'New PIN',
    pinBad: 'A PIN is 6 to 12 digits.',
    pinSubmit: 'Set PIN',
    pinDone: 'PIN set.',
    wrongCurrent: 'The current password is wrong.',
  },
);

const message = (err: unknown): string =>
  err instanceof ApiError && err.code === 'bad_credentials' ? s('wrongCurrent') : errorText(err);

/** Every field of this screen is a secret the officer must type. */
const Secret = (props: FieldProps) => <Field type="password" required {...props} />;

function ChangePassword() {
  const current = useSignal('');
  const next = useSignal('');
  const again = useSignal('');
  const revoke = useSignal(false);
  const { error, done, busy, run } = useAction(message);
  function submit(e: Event) {
    e.preventDefault();
    const refusal = next.value.length < 10 ? s('tooShort') : next.value !== again.value ? s('mismatch') : '';
    void run(refusal, async () => {
      const username = me.value?.username ?? '';
      await api('POST', '/api/auth/password', {
        currentPassword: current.value,
        newPassword: next.value,
        revokeTokens: revoke.value,
      });
      // Every session of mine ended with the change, this one too: log in again with the new one.
      await login(username, next.value);
      current.value = next.value = again.value = '';
      return s('pwDone');
    });
  }
  return (
    <form class="stack card" onSubmit={submit} aria-labelledby="acct-pw">
      <h2 id="acct-pw">{s('pwTitle')}</h2>
      {/* for password managers: which account this new password belongs to */}
      <input
        type="text"
        name="username"
        autocomplete="username"
        value={me.value?.username ?? ''}
        readOnly
        hidden
      />
      <Secret name="currentPassword" label={s('current')} value={current} autocomplete="current-password" />
      <Secret name="newPassword" label={s('next')} value={next} autocomplete="new-password" />
      <Secret name="newPasswordAgain" label={s('again')} value={again} autocomplete="new-password" />
      <label class="check">
        <input
          type="checkbox"
          checked={revoke.value}
          onChange={(e) => {
            revoke.value = e.currentTarget.checked;
          }}
        />
        {s('revoke')}
      </label>
      <Notice error={error.value} done={done.value} />
      <button type="submit" class="primary big" disabled={busy.value}>
        {s('pwSubmit')}
      </button>
    </form>
  );
}

function SetPin() {
  const current = useSignal('');
  const pin = useSignal('');
  const { error, done, busy, run } = useAction(message);
  function submit(e: Event) {
    e.preventDefault();
    void run(/^\d{6,12}$/.test(pin.value) ? '' : s('pinBad'), async () => {
      await api('POST', '/api/auth/pin', { currentPassword: current.value, pin: pin.value });
      current.value = pin.value = '';
      if (me.value) me.value = { ...me.value, hasPin: true };
      return s('pinDone');
    });
  }
  return (
    <form class="stack card" onSubmit={submit} aria-labelledby="acct-pin">
      <h2 id="acct-pin">{s('pinTitle')}</h2>
      <p class="muted">{s('pinHint')}</p>
      {me.value?.hasPin && <p class="muted">{s('pinHas')}</p>}
      <Secret name="pinPassword" label={s('current')} value={current} autocomplete="current-password" />
      <Secret name="pin" label={s('pin')} value={pin} autocomplete="off" inputMode="numeric" />
      <Notice error={error.value} done={done.value} />
      <button type="submit" class="primary big" disabled={busy.value}>
        {s('pinSubmit')}
      </button>
    </form>
  );
}

export function Account() {
  return (
    <section class="more account">
      <BackToMore />
      <h1>{s('title')}</h1>
      <p class="muted">{s('who', { name: me.value?.username ?? '' })}</p>
      <ChangePassword />
      <SetPin />
    </section>
  );
}
