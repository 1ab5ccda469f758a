import { t } from '../i18n';

/** Placeholder until this screen is built (issue 10). */
export function Announce() {
  return (
    <section>
      <h1>{t('nav.announce')}</h1>
    </section>
  );
}
