/**
 * Where the notification's link leads. Loading this page changes nothing (mail scanners fetch links);
 * only the button opens the message and uses up the link.
 */
import { useState } from 'react';
import { Body1, Button } from '@fluentui/react-components';
import { OPEN_LINK_PURPOSE_PARAM, OPEN_LINK_TOKEN_PARAM, type OpenLinkResponse } from '../../../common/src/portal-api.ts';
import { ApiProblem, api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { navigate, useLocation } from '../router.ts';
import { useSession } from '../session.tsx';
import { Notice, PageTitle, RequestLinkButton, usePageStyles } from './common.tsx';

export function OpenPage() {
  const { t } = useI18n();
  const styles = usePageStyles();
  const { query } = useLocation();
  const { reload } = useSession();
  const token = query.get(OPEN_LINK_TOKEN_PARAM) ?? '';
  const signIn = query.get(OPEN_LINK_PURPOSE_PARAM) === 'sign-in';
  const [state, setState] = useState<{ kind: 'ready' | 'opening' | 'unusable' } | { kind: 'failed'; message: string }>({ kind: 'ready' });

  const open = async () => {
    setState({ kind: 'opening' });
    try {
      const opened = await api.post<OpenLinkResponse>('/api/portal/links/open', { token }, { quiet: true });
      await reload();
      if (opened.purpose === 'sign-in') navigate('/portal/sent', { replace: true });
      else if (opened.threadId) {
        const message = opened.messageId ? `?message=${encodeURIComponent(opened.messageId)}` : '';
        navigate(`/portal/threads/${encodeURIComponent(opened.threadId)}${message}`, { replace: true });
      } else navigate('/portal/threads', { replace: true });
    } catch (error) {
      if (error instanceof ApiProblem && error.is('link-unusable')) setState({ kind: 'unusable' });
      else setState({ kind: 'failed', message: problemText(error, t) });
    }
  };

  if (state.kind === 'unusable') {
    return (
      <div className={styles.stack}>
        <PageTitle>{t('unusableTitle')}</PageTitle>
        <Body1 as="p">{t('unusableBody')}</Body1>
        <RequestLinkButton body={{ token }} sentText={t('requestSent')} />
      </div>
    );
  }

  return (
    <div className={styles.stack}>
      <PageTitle>{signIn ? t('signInLinkTitle') : t('openTitle')}</PageTitle>
      {token ? (
        <>
          <Body1 as="p">{signIn ? t('signInLinkBody') : t('openBody')}</Body1>
          <Button appearance="primary" size="large" disabled={state.kind === 'opening'} onClick={() => void open()}>
            {state.kind === 'opening' ? t('opening') : signIn ? t('signInLinkButton') : t('openButton')}
          </Button>
          {state.kind === 'failed' && <Notice intent="error">{state.message}</Notice>}
        </>
      ) : (
        <Notice intent="warning">{t('openNoToken')}</Notice>
      )}
    </div>
  );
}
