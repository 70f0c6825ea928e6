/** For members: the secure messages they sent, who read them, revoking access and changing the expiry. */
import { useCallback, useEffect, useState } from 'react';
import { Body1, Button, Field, Input, Spinner, Subtitle1, Text, makeStyles, tokens } from '@fluentui/react-components';
import type { ChangeExpiryRequest, ChangeExpiryResponse, RevokeRequest, SentMessage, SentMessageList } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

const useStyles = makeStyles({
  list: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignSelf: 'stretch' },
  // The date field has its label above it: its button lines up with the field, not with the label.
  expiry: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'flex-end' },
  recipients: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  card: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalS,
    padding: tokens.spacingHorizontalM,
    minWidth: 0,
    borderRadius: tokens.borderRadiusMedium,
    boxShadow: tokens.shadow4,
    backgroundColor: tokens.colorNeutralBackground1,
  },
});

/** yyyy-mm-dd of a date in the reader's time zone, for <input type="date">. */
function dayValue(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function SentItem({ message, onChanged }: { message: SentMessage; onChanged: () => Promise<void> }) {
  const { t, formatDate, formatDay } = useI18n();
  const styles = useStyles();
  const page = usePageStyles();
  const [day, setDay] = useState(dayValue(message.expiresAt));
  const [outcome, setOutcome] = useState<{ intent: 'success' | 'error'; text: string } | undefined>();
  const path = `/api/portal/sent/${encodeURIComponent(message.id)}`;

  const revoke = async (recipient?: string) => {
    try {
      const body: RevokeRequest = recipient ? { recipient } : {};
      await api.post(`${path}/revoke`, body);
      setOutcome({ intent: 'success', text: t('revokedDone') });
      await onChanged();
    } catch (error) {
      setOutcome({ intent: 'error', text: problemText(error, t) });
    }
  };

  const changeExpiry = async () => {
    try {
      // The end of the chosen day, where the reader is.
      const body: ChangeExpiryRequest = { expiresAt: new Date(`${day}T23:59:59`).toISOString() };
      const answer = await api.patch<ChangeExpiryResponse>(path, body);
      setDay(dayValue(answer.expiresAt));
      setOutcome({ intent: 'success', text: t('expirySaved', { date: formatDay(answer.expiresAt) }) });
      await onChanged();
    } catch (error) {
      setOutcome({ intent: 'error', text: problemText(error, t) });
    }
  };

  const headingId = `sent-${message.id}`;
  const active = message.recipients.filter((r) => !r.revokedAt);
  return (
    <li>
      <article className={styles.card} aria-labelledby={headingId}>
        <Subtitle1 as="h2" id={headingId} className={page.wrap}>
          {message.subject || t('noSubject')}
        </Subtitle1>
        <Body1 className={page.muted}>
          {t('sentOn', { date: formatDate(message.sentAt) })}
          {' · '}
          {message.expiresAt ? `${t('expiryLabel')} ${formatDay(message.expiresAt)}` : t('expiryNone')}
        </Body1>
        <ul className={styles.recipients} aria-label={t('recipientsTitle')}>
          {message.recipients.map((recipient) => (
            <li key={recipient.address} className={page.row}>
              <Text weight="semibold" className={page.wrap}>
                {recipient.address}
              </Text>
              <Body1>
                {recipient.revokedAt
                  ? t('revokedAt', { date: formatDate(recipient.revokedAt) })
                  : recipient.firstReadAt
                    ? t('readAt', { date: formatDate(recipient.firstReadAt) })
                    : t('notReadYet')}
              </Body1>
              {!recipient.revokedAt && (
                <Button size="small" aria-label={t('revokeFor', { address: recipient.address })} onClick={() => void revoke(recipient.address)}>
                  {t('revoke')}
                </Button>
              )}
            </li>
          ))}
        </ul>
        <div className={styles.expiry}>
          {active.length > 1 && <Button onClick={() => void revoke()}>{t('revokeAll')}</Button>}
          <Field label={t('expiryLabel')}>
            <Input type="date" value={day} onChange={(_, data) => setDay(data.value)} />
          </Field>
          <Button disabled={!day} onClick={() => void changeExpiry()}>
            {t('expirySave')}
          </Button>
        </div>
        {outcome && <Notice intent={outcome.intent}>{outcome.text}</Notice>}
      </article>
    </li>
  );
}

export function SentPage() {
  const { t } = useI18n();
  const styles = useStyles();
  const page = usePageStyles();
  const { session } = useSession();
  const [list, setList] = useState<SentMessageList | undefined>();
  const [failure, setFailure] = useState<unknown>();

  const load = useCallback(async () => {
    try {
      setList(await api.get<SentMessageList>('/api/portal/sent'));
    } catch (error) {
      setFailure(error);
    }
  }, []);
  useEffect(() => {
    if (session?.role) void load();
  }, [load, session?.role]);

  return (
    <div className={page.stack}>
      <PageTitle>{t('sentTitle')}</PageTitle>
      {!session?.role && <Notice intent="info">{t('membersOnly')}</Notice>}
      {failure !== undefined && <Notice intent="error">{problemText(failure, t)}</Notice>}
      {session?.role && !list && failure === undefined && <Spinner label={t('loading')} />}
      {list && list.messages.length === 0 && <Body1 as="p">{t('sentEmpty')}</Body1>}
      {list && list.messages.length > 0 && (
        <ul className={styles.list}>
          {list.messages.map((message) => (
            <SentItem key={message.id} message={message} onChanged={load} />
          ))}
        </ul>
      )}
    </div>
  );
}
