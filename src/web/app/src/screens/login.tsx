/**
 * Logging in: the officer's name and password (a cookie session), or the first-run set-up when the
 * controller has no account yet.
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { api, login } from '../api';
import { t } from '../i18n';
import { useAction } from '../ui/action';
import { Field } from '../ui/field';
import { Notice } from '../ui/notice';

export function Login() {
  // A controller with no account yet (no ADMIN_PASSWORD) asks for its first-run set-up.
  // Only a controller waiting for its first admin needs that screen: its own chunk.
  const setup = useSignal<typeof import('../account/setup').FirstSetup | null>(null);
  useEffect(() => {
    api<{ needed: boolean }>('GET', '/api/auth/setup')
      .then(async (r) => {
        if (r.needed) setup.value = (await import('../account/setup')).FirstSetup;
      })
      .catch(() => undefined);
  }, []);
  const FirstSetup = setup.value;
  if (FirstSetup)
    return (
      <FirstSetup
        onDone={() => {
          setup.value = null;
        }}
      />
    );
  return <LoginForm />;
}

function LoginForm() {
  const username = useSignal('');
  const password = useSignal('');
  const { error, busy, run } = useAction();
  function submit(e: Event) {
    e.preventDefault();
    void run('', async () => {
      await login(username.value.trim(), password.value);
      return '';
    });
  }
  return (
    <main class="narrow">
      <h1>{t('login.title')}</h1>
      <p class="muted">{t('login.hint')}</p>
      <form onSubmit={submit} class="stack">
        <Field
          name="username"
          label={t('login.username')}
          value={username}
          required
          autocomplete="username"
          autocapitalize="none"
        />
        <Field
          name="password"
          label={t('login.password')}
          value={password}
          required
          type="password"
          autocomplete="current-password"
        />
        <Notice error={error.value} />
        <button type="submit" class="primary big" disabled={busy.value}>
          {t('login.submit')}
        </button>
      </form>
    </main>
  );
}
