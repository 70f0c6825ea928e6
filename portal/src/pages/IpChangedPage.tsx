/** Shown instead of any content when the session answers that the reader's network changed. */
import { Body1 } from '@fluentui/react-components';
import { useI18n } from '../i18n.tsx';
import { PageTitle, RequestLinkButton, usePageStyles } from './common.tsx';

export function IpChangedPage() {
  const { t } = useI18n();
  const styles = usePageStyles();
  return (
    <div className={styles.stack}>
      <PageTitle>{t('ipChangedTitle')}</PageTitle>
      <Body1 as="p">{t('ipChangedBody')}</Body1>
      {/* No address and no token: the link goes to the address of this browser's session. */}
      <RequestLinkButton body={{}} sentText={t('ipChangedSent')} />
    </div>
  );
}
