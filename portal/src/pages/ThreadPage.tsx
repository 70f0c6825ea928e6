/** A conversation: its messages, the chosen one shown below, and the reply form. */
import { useCallback, useEffect, useState } from 'react';
import { Body1, Link, Spinner, Subtitle1, makeStyles, shorthands, tokens } from '@fluentui/react-components';
import type { ThreadDetail } from '../../../common/src/portal-api.ts';
import { useI18n } from '../i18n.tsx';
import { getPrefetched, useProvidedAnswer } from '../prefetch.ts';
import { problemText } from '../problems.ts';
import { followInApp, navigate, useLocation } from '../router.ts';
import { Notice, PageTitle, usePageStyles } from './common.tsx';
import { MessageView } from './MessageView.tsx';

const useStyles = makeStyles({
  list: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS, alignSelf: 'stretch' },
  item: {
    display: 'flex',
    flexDirection: 'column',
    padding: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalM}`,
    overflowWrap: 'anywhere',
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
  },
  selected: { ...shorthands.borderColor(tokens.colorBrandStroke1), backgroundColor: tokens.colorBrandBackground2 },
  preview: { color: tokens.colorNeutralForeground2, overflowWrap: 'anywhere' },
});

const threadPath = (threadId: string) => `/api/portal/threads/${encodeURIComponent(threadId)}`;

export function ThreadPage({ threadId }: { threadId: string }) {
  const { t, formatDate } = useI18n();
  const styles = useStyles();
  const page = usePageStyles();
  const { query } = useLocation();
  // A thread that came with the opened link is shown in the first rendering, without asking again.
  const [providedDetail, wasProvided] = useProvidedAnswer<ThreadDetail>(threadPath(threadId));
  const [detail, setDetail] = useState(providedDetail);
  const [failure, setFailure] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();

  const load = useCallback(async () => {
    try {
      setDetail(await getPrefetched<ThreadDetail>(threadPath(threadId)));
      setFailure(undefined);
    } catch (error) {
      setFailure(error);
    }
  }, [threadId]);

  useEffect(() => {
    if (wasProvided(threadPath(threadId))) return;
    setDetail(undefined);
    void load();
  }, [load, threadId, wasProvided]);

  const base = `/portal/threads/${encodeURIComponent(threadId)}`;
  const chosen = query.get('message') ?? detail?.messages.at(-1)?.id;
  const allowRemote = query.get('remote') === 'allow';

  if (failure !== undefined) {
    return (
      <div className={page.stack}>
        <PageTitle>{t('inboxTitle')}</PageTitle>
        <Notice intent="error">{problemText(failure, t)}</Notice>
      </div>
    );
  }
  if (!detail) return <Spinner label={t('loading')} />;

  return (
    <div className={page.stack}>
      <PageTitle>{detail.thread.subject || t('noSubject')}</PageTitle>
      <Body1 as="p" className={`${page.muted} ${page.wrap}`}>
        {detail.thread.counterpart} · {t('threadCount', { count: detail.messages.length, max: detail.maxMessages })}
      </Body1>
      {notice && <Notice intent="success">{notice}</Notice>}
      <section aria-labelledby="thread-messages" className={`${page.stack} ${page.wide}`}>
        <Subtitle1 as="h2" id="thread-messages">
          {t('threadMessages')}
        </Subtitle1>
        <ul className={styles.list}>
          {detail.messages.map((message) => {
            const to = `${base}?message=${encodeURIComponent(message.id)}`;
            const selected = message.id === chosen;
            return (
              <li key={message.id} className={`${styles.item} ${selected ? styles.selected : ''}`}>
                <Link href={to} onClick={(e) => followInApp(e, to)} aria-current={selected ? 'true' : undefined}>
                  {message.fromName || message.from} · {formatDate(message.sentAt)}
                  {!message.read && ` · ${t('unreadMark')}`}
                </Link>
                <Body1 className={styles.preview}>{message.preview}</Body1>
              </li>
            );
          })}
        </ul>
      </section>
      {chosen ? (
        <div className={page.wide}>
          <MessageView
            key={chosen}
            messageId={chosen}
            threadSubject={detail.thread.subject}
            allowRemote={allowRemote}
            threadCanReply={detail.canReply}
            maxMessages={detail.maxMessages}
            onAllowRemote={() => navigate(`${base}?message=${encodeURIComponent(chosen)}&remote=allow`, { replace: true })}
            onDeleted={() => {
              setNotice(t('deleted'));
              navigate(base, { replace: true });
              void load();
            }}
            onReplied={() => void load()}
          />
        </div>
      ) : (
        <Body1 as="p">{t('selectMessage')}</Body1>
      )}
    </div>
  );
}
