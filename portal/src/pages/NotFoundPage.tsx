import { Body1, Link } from '@fluentui/react-components';
import { useI18n } from '../i18n.tsx';
import { followInApp } from '../router.ts';
import { PageTitle, usePageStyles } from './common.tsx';

export function NotFoundPage() {
  const { t } = useI18n();
  const styles = usePageStyles();
  return (
    <div className={styles.stack}>
      <PageTitle>{t('notFoundTitle')}</PageTitle>
      <Body1 as="p">{t('notFoundBody')}</Body1>
      <Link href="/portal/" onClick={(e) => followInApp(e, '/portal/')}>
        {t('goHome')}
      </Link>
    </div>
  );
}
