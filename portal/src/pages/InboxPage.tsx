/** The reader's conversations. */
import { useEffect, useState } from 'react';
import { Body1, Link, Spinner, makeStyles, tokens } from '@fluentui/react-components';
import type { ThreadList } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { followInApp } from '../router.ts';
import { Notice, PageTitle, usePageStyles, useTableStyles } from './common.tsx';

/** Beside the shared table styles: the inbox's own columns. */
const useStyles = makeStyles({
  // Counts and dates never break inside; on a phone the two count columns give their room to subject and sender.
  number: { whiteSpace: 'nowrap', overflowWrap: 'normal', '@media (max-width: 600px)': { display: 'none' } },
  // On a phone the conversation is one cell: the subject, and under it who with and when.
  wideOnly: { '@media (max-width: 600px)': { display: 'none' } },
  narrowOnly: { display: 'none', '@media (max-width: 600px)': { display: 'block' } },
  date: { whiteSpace: 'nowrap', overflowWrap: 'normal' },
  secondary: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200, fontWeight: tokens.fontWeightRegular },
  unread: { fontWeight: tokens.fontWeightSemibold },
  caption: { textAlign: 'start', captionSide: 'top', paddingBottom: tokens.spacingVerticalXS },
});

export function InboxPage() {
  const { t, formatDate } = useI18n();
  const styles = usePageStyles();
  const table = { ...useTableStyles(), ...useStyles() };
  const [list, setList] = useState<ThreadList | undefined>();
  const [failure, setFailure] = useState<unknown>();

  useEffect(() => {
    let live = true;
    api.get<ThreadList>('/api/portal/threads').then(
      (answer) => live && setList(answer),
      (error: unknown) => live && setFailure(error),
    );
    return () => {
      live = false;
    };
  }, []);

  return (
    <div className={styles.stack}>
      <PageTitle>{t('inboxTitle')}</PageTitle>
      {failure !== undefined && <Notice intent="error">{problemText(failure, t)}</Notice>}
      {!list && failure === undefined && <Spinner label={t('loading')} />}
      {list && list.threads.length === 0 && <Body1 as="p">{t('inboxEmpty')}</Body1>}
      {list && list.threads.length > 0 && (
        <table className={table.table}>
          <caption className={`${styles.muted} ${table.caption}`}>
            {t('threadsTable')}
          </caption>
          <thead>
            <tr>
              <th scope="col">{t('colSubject')}</th>
              <th scope="col" className={table.wideOnly}>
                {t('colCounterpart')}
              </th>
              <th scope="col" className={table.number}>
                {t('colCount')}
              </th>
              <th scope="col" className={table.number}>
                {t('colUnread')}
              </th>
              <th scope="col" className={`${table.date} ${table.wideOnly}`}>
                {t('colDate')}
              </th>
            </tr>
          </thead>
          <tbody>
            {list.threads.map((thread) => {
              const to = `/portal/threads/${encodeURIComponent(thread.id)}`;
              return (
                <tr key={thread.id} className={thread.unread > 0 ? table.unread : undefined}>
                  <td>
                    <Link href={to} onClick={(e) => followInApp(e, to)}>
                      {thread.subject || t('noSubject')}
                    </Link>
                    <span className={`${table.narrowOnly} ${table.secondary}`}>
                      {thread.counterpart} · {formatDate(thread.lastMessageAt)}
                    </span>
                  </td>
                  <td className={table.wideOnly}>{thread.counterpart}</td>
                  <td className={table.number}>{thread.messageCount}</td>
                  <td className={table.number}>{thread.unread}</td>
                  <td className={`${table.date} ${table.wideOnly}`}>{formatDate(thread.lastMessageAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
