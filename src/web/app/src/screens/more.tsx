import { hasRole } from '../api';
import { strings, t } from '../i18n';

const s = strings({ receivers: 'Cụm loa' }, { receivers: 'Receivers' });

/** Placeholder until this screen is built (issue 10); links to the screens reached from here. */
export function More() {
  return (
    <section>
      <h1>{t('nav.more')}</h1>
      <ul class="more-links">
        {hasRole() && (
          <li>
            <a href="/more/receivers">{s('receivers')}</a>
          </li>
        )}
      </ul>
    </section>
  );
}
