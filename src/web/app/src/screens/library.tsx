import { t } from '../i18n';

/** Placeholder until this screen is built (issue 10). */
export function Library() {
  return (
    <section>
      <h1>{t('nav.library')}</h1>
    </section>
  );
}
