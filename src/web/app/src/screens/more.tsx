/**
 * More: the rest of the app behind one menu — receivers (admins; routed by app.tsx), as-run log,
 * officers and audit (admins), my account, language. Each screen is its own lazy chunk.
 */
import { ErrorBoundary, lazy, Route, Router } from 'preact-iso';
import { hasRole } from '../api';
import { lang, setLang, strings } from '../i18n';
import '../account/account.css';

const Account = lazy(() => import('../account/account').then((m) => m.Account));
const Officers = lazy(() => import('../admin/officers').then((m) => m.Officers));
const Audit = lazy(() => import('../admin/audit').then((m) => m.Audit));

export const s = strings(
  {
    title: 'Thêm',
    receivers: 'Cụm loa',
    receiversHint: 'Nhận, đăng ký, đổi tên, âm lượng',
    asrun: 'Nhật ký phát',
    asrunHint: 'Đã phát, bị cắt, bị lỡ; xuất CSV',
    officers: 'Cán bộ',
    officersHint: 'Tài khoản, vai trò, thôn được phụ trách',
    audit: 'Nhật ký hệ thống',
    auditHint: 'Ai đã làm gì, khi nào',
    account: 'Tài khoản của tôi',
    accountHint: 'Đổi mật khẩu, đặt mã PIN',
    language: 'Ngôn ngữ',
    back: '‹ Thêm',
  },
  {
    title: 'More',
    receivers: 'Receivers',
    receiversHint: 'Adopt, register, rename, volume',
    asrun: 'As-run log',
    asrunHint: 'Aired, cut, missed; CSV export',
    officers: 'Officers',
    officersHint: 'Accounts, roles, villages',
    audit: 'Audit log',
    auditHint: 'Who did what, when',
    account: 'My account',
    accountHint: 'Change password, set PIN',
    language: 'Language',
    back: '‹ More',
  },
);

/** The way back to the menu, at the top of every screen under More. */
export function BackToMore() {
  return (
    <a href="/more" class="more-back">
      {s('back')}
    </a>
  );
}

function Menu() {
  const admin = hasRole();
  const items: { href: string; title: 'receivers' | 'asrun' | 'officers' | 'audit' | 'account' }[] = [
    ...(admin ? ([{ href: '/more/receivers', title: 'receivers' }] as const) : []),
    { href: '/programs/asrun', title: 'asrun' },
    ...(admin
      ? ([
          { href: '/more/officers', title: 'officers' },
          { href: '/more/audit', title: 'audit' },
        ] as const)
      : []),
    { href: '/more/account', title: 'account' },
  ];
  return (
    <section class="more">
      <h1>{s('title')}</h1>
      <ul class="more-menu">
        {items.map((i) => (
          <li key={i.href}>
            <a href={i.href}>
              <span class="title">{s(i.title)}</span>
              <span class="hint">{s(`${i.title}Hint`)}</span>
            </a>
          </li>
        ))}
      </ul>
      <fieldset class="more-lang">
        <legend>{s('language')}</legend>
        <button type="button" aria-pressed={lang.value === 'vi'} onClick={() => setLang('vi')}>
          Tiếng Việt
        </button>
        <button type="button" aria-pressed={lang.value === 'en'} onClick={() => setLang('en')}>
          English
        </button>
      </fieldset>
    </section>
  );
}

export function More() {
  return (
    <ErrorBoundary>
      <Router>
        <Route path="/" component={Menu} />
        <Route path="/account" component={Account} />
        {/* "/x/*" does not match "/x" in preact-iso: each screen with sub-pages is listed twice */}
        <Route path="/officers" component={Officers} />
        <Route path="/officers/*" component={Officers} />
        <Route path="/audit" component={Audit} />
        <Route default component={Menu} />
      </Router>
    </ErrorBoundary>
  );
}
