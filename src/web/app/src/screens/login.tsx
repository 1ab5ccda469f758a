import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiError, api, login } from '../api';
import { t } from '../i18n';

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
  const error = useSignal('');
  const busy = useSignal(false);
  async function submit(e: Event) {
    e.preventDefault();
    busy.value = true;
    error.value = '';
    try {
      await login(username.value.trim(), password.value);
    } catch (err) {
      error.value = err instanceof ApiError ? err.message : t('err.network');
    } finally {
      busy.value = false;
    }
  }
  return (
    <main class="narrow">
      <h1>{t('login.title')}</h1>
      <p class="muted">{t('login.hint')}</p>
      <form onSubmit={submit} class="stack">
        <label>
          {t('login.username')}
          <input
            name="username"
            autocomplete="username"
            autocapitalize="none"
            required
            value={username.value}
            onInput={(e) => {
              username.value = e.currentTarget.value;
            }}
          />
        </label>
        <label>
          {t('login.password')}
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password.value}
            onInput={(e) => {
              password.value = e.currentTarget.value;
            }}
          />
        </label>
        {error.value && (
          <p role="alert" class="error">
            {error.value}
          </p>
        )}
        <button type="submit" class="primary big" disabled={busy.value}>
          {t('login.submit')}
        </button>
      </form>
    </main>
  );
}
