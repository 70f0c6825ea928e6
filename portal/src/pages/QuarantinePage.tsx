/**
 * MailGuard's quarantine for members: the held mail addressed to them (owners, operators and analysts see
 * the whole organisation's), and one message with its findings and header fields, to release or delete.
 * A quarantine notice links to /portal/quarantine/<id>; what may be released is the server's decision
 * (`releasable`), and a refused release shows the server's reason.
 */
import { useCallback, useEffect, useState } from 'react';
import {
  Body1,
  Button,
  Link,
  Spinner,
  Subtitle1,
} from '@fluentui/react-components';
import { api } from '../api.ts';
import { GUARD_API, type QuarantineList, type QuarantinedMessage } from '../guard-api.ts';
import { useI18n } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { followInApp } from '../router.ts';
import { useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';


function QuarantineListView() {
  const { t, formatDate, formatDay } = useI18n();
  const page = usePageStyles();
  const table = useTableStyles();
  const [list, setList] = useState<QuarantineList | undefined>();
  const [failure, setFailure] = useState<unknown>();

  useEffect(() => {
    let live = true;
    api.get<QuarantineList>(`${GUARD_API}/quarantine?limit=100`).then(
      (answer) => live && setList(answer),
      (error: unknown) => live && setFailure(error),
    );
    return () => {
      live = false;
    };
  }, []);

  return (
    <div className={page.stack}>
      <PageTitle>{t('quarantineTitle')}</PageTitle>
      <Body1 as="p" className={page.muted}>
        {list?.admin ? t('quarantineIntroAdmin') : t('quarantineIntro')}
      </Body1>
      {failure !== undefined && <Notice intent="error">{problemDetail(failure, t)}</Notice>}
      {!list && failure === undefined && <Spinner label={t('loading')} />}
      {list && list.messages.length === 0 && <Body1 as="p">{t('quarantineEmpty')}</Body1>}
      {list && list.messages.length > 0 && (
        <table className={table.table}>
          <caption className={table.caption}>{t('quarantineTable')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('colSubject')}</th>
              <th scope="col" className={table.wideOnly}>
                {t('colSender')}
              </th>
              <th scope="col" className={`${table.nowrap} ${table.wideOnly}`}>
                {t('colReceived')}
              </th>
              <th scope="col" className={`${table.nowrap} ${table.wideOnly}`}>
                {t('colScore')}
              </th>
              <th scope="col" className={table.wideOnly}>
                {t('colReason')}
              </th>
              <th scope="col" className={`${table.nowrap} ${table.wideOnly}`}>
                {t('colKeepUntil')}
              </th>
            </tr>
          </thead>
          <tbody>
            {list.messages.map((message) => {
              const to = `/portal/quarantine/${encodeURIComponent(message.id)}`;
              return (
                <tr key={message.id}>
                  <td>
                    <Link href={to} onClick={(e) => followInApp(e, to)}>
                      {message.subject || t('noSubject')}
                    </Link>
                    <span className={`${table.narrowOnly} ${table.secondary}`}>
                      {message.from || message.mailFrom} · {formatDate(message.receivedAt)} · {t('scoreValue', { score: message.score })}
                    </span>
                  </td>
                  <td className={table.wideOnly}>{message.from || message.mailFrom}</td>
                  <td className={`${table.nowrap} ${table.wideOnly}`}>{formatDate(message.receivedAt)}</td>
                  <td className={table.wideOnly}>{message.score}</td>
                  <td className={table.wideOnly}>{message.reason}</td>
                  <td className={`${table.nowrap} ${table.wideOnly}`}>{message.keepUntil ? formatDay(message.keepUntil) : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function QuarantineDetail({ messageId }: { messageId: string }) {
  const { t, formatDate, formatDay } = useI18n();
  const page = usePageStyles();
  const table = useTableStyles();
  const [message, setMessage] = useState<QuarantinedMessage | undefined>();
  const [admin, setAdmin] = useState(false);
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ intent: 'success' | 'error'; text: string } | undefined>();
  const [confirming, setConfirming] = useState(false);
  const path = `${GUARD_API}/quarantine/${encodeURIComponent(messageId)}`;

  const load = useCallback(async () => {
    try {
      // The answer says whether this member manages the whole quarantine (allow sender, delete).
      const answer = await api.get<{ message: QuarantinedMessage; admin: boolean }>(path);
      setMessage(answer.message);
      setAdmin(answer.admin);
    } catch (error) {
      setFailure(error);
    }
  }, [path]);
  useEffect(() => void load(), [load]);

  const release = async (allowSender: boolean) => {
    setBusy(true);
    try {
      await api.post(`${path}/release`, allowSender ? { allowSender: true } : {});
      setOutcome({ intent: 'success', text: allowSender ? t('releasedAllowed', { sender: message?.mailFrom ?? '' }) : t('released') });
      setMessage(undefined);
    } catch (error) {
      setOutcome({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    setConfirming(false);
    setBusy(true);
    try {
      await api.delete(path);
      setOutcome({ intent: 'success', text: t('quarantineDeleted') });
      setMessage(undefined);
      focusContent();
    } catch (error) {
      setOutcome({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(false);
    }
  };

  const back = (
    <Link href="/portal/quarantine" onClick={(e) => followInApp(e, '/portal/quarantine')}>
      {t('backToQuarantine')}
    </Link>
  );
  // The confirmation stays mounted whatever the page shows: a dialog removed while it closes would leave
  // the rest of the page hidden from screen readers.
  const confirmDelete = (
    <ConfirmDialog
      open={confirming}
      title={t('quarantineDeleteTitle')}
      body={t('quarantineDeleteBody')}
      confirm={t('deleteConfirm')}
      onConfirm={() => void remove()}
      onClose={() => setConfirming(false)}
    />
  );
  return (
    <>
      {detailContent()}
      {confirmDelete}
    </>
  );

  function detailContent() {
  if (failure !== undefined || outcome?.intent === 'success') {
    return (
      <div className={page.stack}>
        <PageTitle>{t('quarantineTitle')}</PageTitle>
        {failure !== undefined ? <Notice intent="error">{problemDetail(failure, t)}</Notice> : <Notice intent="success">{outcome!.text}</Notice>}
        {back}
      </div>
    );
  }
  if (!message) return <Spinner label={t('loading')} />;

  const whyNot = !message.releasable ? (admin ? t('releaseNotPossible') : t('releaseAdminOnly')) : undefined;
  return (
    <article className={page.stack}>
      {back}
      <PageTitle>{message.subject || t('noSubject')}</PageTitle>
      <dl className={table.facts}>
        <dt>{t('colSender')}</dt>
        <dd>{message.from || message.mailFrom}</dd>
        <dt>{t('colReceived')}</dt>
        <dd>{formatDate(message.receivedAt)}</dd>
        <dt>{t('colScore')}</dt>
        <dd>{message.score}{message.policy ? ` · ${t('underPolicy', { policy: message.policy })}` : ''}</dd>
        <dt>{t('colKeepUntil')}</dt>
        <dd>{message.keepUntil ? formatDay(message.keepUntil) : '—'}</dd>
      </dl>

      <Subtitle1 as="h2">{t('findingsTitle')}</Subtitle1>
      <FindingsTable findings={message.findings} caption={t('findingsTitle')} />

      <Subtitle1 as="h2">{t('headerFieldsTitle')}</Subtitle1>
      <table className={table.table}>
        <caption className={table.caption}>{t('headerFieldsTitle')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('colField')}</th>
            <th scope="col">{t('colValue')}</th>
          </tr>
        </thead>
        <tbody>
          {message.headers.map((field, index) => (
            <tr key={`${field.name}-${index}`}>
              <th scope="row" className={table.nowrap}>{field.name}</th>
              <td>{field.value}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <div className={page.row}>
        <Button appearance="primary" disabled={!message.releasable || busy} aria-describedby={whyNot ? 'release-why-not' : undefined} onClick={() => void release(false)}>
          {t('release')}
        </Button>
        {admin && (
          <Button disabled={!message.releasable || busy || !message.mailFrom} onClick={() => void release(true)}>
            {t('releaseAllow')}
          </Button>
        )}
        {admin && (
          <Button appearance="secondary" disabled={busy} onClick={() => setConfirming(true)}>
            {t('quarantineDelete')}
          </Button>
        )}
      </div>
      {whyNot && (
        <Body1 as="p" id="release-why-not" className={page.muted}>
          {whyNot}
        </Body1>
      )}
      {outcome && <Notice intent={outcome.intent}>{outcome.text}</Notice>}
    </article>
  );
  }
}

/** Every symbol with its score and reason, as the guard found them. */
export function FindingsTable({ findings, caption }: { findings: Array<{ symbol: string; score: number; reason: string }>; caption: string }) {
  const { t } = useI18n();
  const table = useTableStyles();
  if (findings.length === 0) return <Body1 as="p">{t('noFindings')}</Body1>;
  return (
    <table className={table.table}>
      <caption className={table.caption}>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t('colSymbol')}</th>
          <th scope="col" className={table.nowrap}>{t('colScore')}</th>
          <th scope="col">{t('colReason')}</th>
        </tr>
      </thead>
      <tbody>
        {findings.map((finding, index) => (
          <tr key={`${finding.symbol}-${index}`}>
            <td className={table.symbol}>{finding.symbol}</td>
            <td className={table.nowrap}>{finding.score}</td>
            <td>{finding.reason}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function QuarantinePage({ messageId }: { messageId?: string }) {
  const { t } = useI18n();
  const page = usePageStyles();
  const { session } = useSession();
  if (!session?.role) {
    return (
      <div className={page.stack}>
        <PageTitle>{t('quarantineTitle')}</PageTitle>
        <Notice intent="info">{t('membersOnly')}</Notice>
      </div>
    );
  }
  return messageId ? <QuarantineDetail messageId={messageId} /> : <QuarantineListView />;
}
