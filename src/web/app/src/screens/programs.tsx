import { t } from '../i18n';

/** Placeholder until this screen is built (issue 10). */
export function Programs() {
  return (
    <section>
      <h1>{t('nav.programs')}</h1>
    </section>
  );
}
