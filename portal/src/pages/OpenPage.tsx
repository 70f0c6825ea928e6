/**
 * Where the notification's link leads. Loading this page changes nothing (mail scanners fetch links);
 * only the button opens the message and uses up the link. While the reader looks at the button, the
 * message page's script is fetched (when the browser is idle), so the press waits only for the server,
 * whose answer to opening the link brings the thread and the message with it.
 */
import { useEffect, useState } from 'react';
import { Body1, Button } from '@fluentui/react-components';
import { OPEN_LINK_PURPOSE_PARAM, OPEN_LINK_TOKEN_PARAM, type OpenLinkResponse } from '../../../common/src/portal-api.ts';
import { ApiProblem, api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { SecondFactorPage, SentPage, ThreadPage } from '../lazy-pages.tsx';
import { prefetch, provideAnswer } from '../prefetch.ts';
import { navigate, useLocation } from '../router.ts';
import { goAfterSignIn } from '../after-sign-in.ts';
import { useSession } from '../session.tsx';
import { whenIdle } from '../idle.ts';
import { Notice, PageTitle, RequestLinkButton, usePageStyles } from './common.tsx';

export function OpenPage() {
  const { t } = useI18n();
  const styles = usePageStyles();
  const { query } = useLocation();
  const { adopt, reload } = useSession();
  const token = query.get(OPEN_LINK_TOKEN_PARAM) ?? '';
  const signIn = query.get(OPEN_LINK_PURPOSE_PARAM) === 'sign-in';
  const [state, setState] = useState<{ kind: 'ready' | 'opening' | 'unusable' } | { kind: 'failed'; message: string }>({ kind: 'ready' });

  useEffect(() => {
    if (!token) return;
    return whenIdle(() => void ThreadPage.preload().catch(() => undefined), { timeoutMs: 2000, fallbackMs: 500 });
  }, [token]);

  const open = async () => {
    setState({ kind: 'opening' });
    // A page that fails to load is loaded again when shown, and says so there.
    const nextPage = (purpose: 'message' | 'sign-in') => (purpose === 'sign-in' ? SentPage : ThreadPage).preload().catch(() => undefined);
    const messagePage = nextPage('message');
    try {
      const opened = await api.post<OpenLinkResponse>('/api/portal/links/open', { token }, { quiet: true });
      if (opened.session) adopt(opened.session);
      else await reload();
      if (opened.purpose === 'sign-in') {
        if (!goAfterSignIn()) {
          await nextPage('sign-in');
          navigate('/portal/sent', { replace: true });
        }
      } else if (opened.threadId) {
        const thread = encodeURIComponent(opened.threadId);
        if (opened.session?.secondFactor === 'required') {
          // Nothing can be read before the second factor: its page comes first, the thread after it.
          await SecondFactorPage.preload().catch(() => undefined);
        } else {
          const threadPath = `/api/portal/threads/${thread}`;
          if (opened.thread) provideAnswer(threadPath, opened.thread);
          else prefetch(threadPath);
          if (opened.messageId) {
            const messagePath = `/api/portal/messages/${encodeURIComponent(opened.messageId)}`;
            if (opened.message) provideAnswer(messagePath, opened.message);
            else prefetch(messagePath);
          }
          await messagePage;
        }
        const message = opened.messageId ? `?message=${encodeURIComponent(opened.messageId)}` : '';
        navigate(`/portal/threads/${thread}${message}`, { replace: true });
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
