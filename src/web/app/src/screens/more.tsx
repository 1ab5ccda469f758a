import { t } from '../i18n';

/** Placeholder until this screen is built (issue 10). */
export function More() {
  return (
    <section>
      <h1>{t('nav.more')}</h1>
    </section>
  );
}
