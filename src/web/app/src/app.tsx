/**
 * The shell: log in first, then the screens behind a bottom navigation a thumb reaches. Routing by
 * preact-iso (history API, lazy screens so the first load carries only the shell and Today).
 */
import { useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ErrorBoundary, LocationProvider, lazy, Route, Router, useLocation } from 'preact-iso';
import { loadMe, logout, me } from './api';
import { lang, setLang, t } from './i18n';
import { Login } from './screens/login';
import { Today } from './screens/today';

const NAV = [
  { href: '/', key: 'nav.today', icon: '◉' },
  { href: '/announce', key: 'nav.announce', icon: '⚠' },
  { href: '/library', key: 'nav.library', icon: '♫' },
  { href: '/programs', key: 'nav.programs', icon: '▦' },
  { href: '/more', key: 'nav.more', icon: '☰' },
] as const;

const Announce = lazy(() => import('./screens/announce').then((m) => m.Announce));
const Library = lazy(() => import('./screens/library').then((m) => m.Library));
const Programs = lazy(() => import('./screens/programs').then((m) => m.Programs));
const More = lazy(() => import('./screens/more').then((m) => m.More));
const Receivers = lazy(() => import('./receivers/receivers').then((m) => m.Receivers));

function BottomNav() {
  const { path } = useLocation();
  return (
    <nav class="bottom-nav" aria-label={t('appName')}>
      {NAV.map((n) => {
        const active = n.href === '/' ? path === '/' : path.startsWith(n.href);
        return (
          <a
            key={n.href}
            href={n.href}
            class={active ? 'active' : ''}
            aria-current={active ? 'page' : undefined}
          >
            <span aria-hidden="true" class="icon">
              {n.icon}
            </span>
            <span>{t(n.key)}</span>
          </a>
        );
      })}
    </nav>
  );
}

export function Header() {
  return (
    <header class="top">
      <strong>{t('appName')}</strong>
      <span class="spacer" />
      <button type="button" class="link" onClick={() => setLang(lang.value === 'vi' ? 'en' : 'vi')}>
        {t('lang.switch')}
      </button>
      {me.value && (
        <button type="button" class="link" onClick={() => void logout()}>
          {t('common.logout')}
        </button>
      )}
    </header>
  );
}

export function App() {
  // An officer this phone knew: draw the app now and check the session beside it (a 401 brings the
  // login back; no network keeps the app usable with what it has).
  const ready = useSignal(me.value !== null);
  useEffect(() => {
    document.documentElement.lang = lang.value;
    loadMe()
      .catch(() => null)
      .finally(() => {
        ready.value = true;
      });
  }, []);
  if (!ready.value) return <p class="center">{t('common.loading')}</p>;
  if (!me.value)
    return (
      <>
        <Header />
        <Login />
      </>
    );
  return (
    <LocationProvider>
      <Header />
      <main>
        <ErrorBoundary>
          <Router>
            <Route path="/" component={Today} />
            <Route path="/announce/:rest*" component={Announce} />
            <Route path="/library/:rest*" component={Library} />
            <Route path="/programs/:rest*" component={Programs} />
            <Route path="/more/receivers/:rest*" component={Receivers} />
            {/* "/more/*" (not ":rest*") hands the rest of the path to More's own router */}
            <Route path="/more" component={More} />
            <Route path="/more/*" component={More} />
            <Route default component={Today} />
          </Router>
        </ErrorBoundary>
      </main>
      <BottomNav />
    </LocationProvider>
  );
}
