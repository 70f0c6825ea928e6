/**
 * "My secure messages": what the sender sent through the portal, who read it, and revocation and expiry
 * changes (GET /api/addin/sent, POST …/revoke, PATCH …).
 */
import { useCallback, useEffect, useState } from 'react';
import {
  Button,
  Caption1,
  Card,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  Spinner,
  Subtitle2,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { ArrowClockwiseRegular, CheckmarkCircleRegular, CircleRegular, DismissCircleRegular } from '@fluentui/react-icons';
import { formatExpiry, parseExpiry } from '../../../common/src/headers.ts';
import type { SentMessage, SentRecipientStatus } from '../../../common/src/portal-api.ts';
import { formatDateTime, formatDay } from '../shared/i18n.ts';
import { usePane } from './context.tsx';
import { errorLine } from './errors.ts';
import { expiryBounds, utcDay, validateExpiryDay } from './protection.ts';

const useStyles = makeStyles({
  list: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, listStyleType: 'none', margin: 0, padding: 0 },
  heading: { display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: tokens.spacingHorizontalS },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, paddingTop: tokens.spacingVerticalS },
  recipients: { listStyleType: 'none', margin: 0, padding: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS },
  recipient: { display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: tokens.spacingHorizontalS, flexWrap: 'wrap' },
  status: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalXS },
  address: { wordBreak: 'break-all' },
  actions: { display: 'flex', gap: tokens.spacingHorizontalS, flexWrap: 'wrap', alignItems: 'flex-end' },
});

interface PendingRevoke {
  message: SentMessage;
  recipient?: string;
}

export function SentMessages() {
  const styles = useStyles();
  const { t, api } = usePane();
  const [messages, setMessages] = useState<SentMessage[]>();
  const [problem, setProblem] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [pending, setPending] = useState<PendingRevoke>();

  const load = useCallback(async () => {
    try {
      setMessages((await api.sent()).messages);
      setProblem(undefined);
    } catch (error) {
      setProblem(t('sentFailed', { message: errorLine(t, error) }));
    }
  }, [api, t]);

  useEffect(() => {
    void load();
  }, [load]);

  async function revoke() {
    if (!pending) return;
    const { message, recipient } = pending;
    setPending(undefined);
    try {
      await api.revoke(message.id, recipient);
      setNotice(t('revoked'));
      await load();
    } catch (error) {
      setNotice(t('actionFailed', { message: errorLine(t, error) }));
    }
  }

  return (
    <section className={styles.section} aria-labelledby="sent-heading">
      <div className={styles.heading}>
        <Subtitle2 as="h2" id="sent-heading">
          {t('tabSent')}
        </Subtitle2>
        <Button icon={<ArrowClockwiseRegular />} onClick={() => void load()}>
          {t('refresh')}
        </Button>
      </div>
      <Text role="status" aria-live="polite" data-testid="sent-notice">
        {notice ?? ''}
      </Text>
      {problem && (
        <MessageBar intent="error" layout="multiline">
          <MessageBarBody>{problem}</MessageBarBody>
        </MessageBar>
      )}
      {messages === undefined && !problem && <Spinner size="tiny" label={t('loading')} />}
      {messages?.length === 0 && <Text>{t('sentEmpty')}</Text>}
      {messages && messages.length > 0 && (
        <ul className={styles.list}>
          {messages.map((message) => (
            <li key={message.id}>
              <SentMessageCard
                message={message}
                onRevoke={(recipient) => setPending({ message, recipient })}
                onExpiryChanged={(expiresAt, notice) => {
                  setMessages((list) => list?.map((m) => (m.id === message.id ? { ...m, expiresAt } : m)));
                  setNotice(notice);
                }}
              />
            </li>
          ))}
        </ul>
      )}
      {/* Mounted only while asked: a mounted dialog adds focus guards to the page that fail axe. */}
      {pending && (
      <Dialog open onOpenChange={(_e, data) => !data.open && setPending(undefined)}>
        <DialogSurface>
          <DialogBody>
            <DialogTitle>{t('revokeConfirmTitle')}</DialogTitle>
            <DialogContent>
              {pending?.recipient
                ? t('revokeOneConfirmBody', { address: pending.recipient, subject: pending.message.subject || t('noSubject') })
                : t('revokeConfirmBody', { subject: pending?.message.subject || t('noSubject') })}
            </DialogContent>
            <DialogActions>
              <Button appearance="secondary" onClick={() => setPending(undefined)}>
                {t('cancel')}
              </Button>
              <Button appearance="primary" onClick={() => void revoke()} data-testid="confirm-revoke">
                {pending?.recipient ? t('revokeOne') : t('revokeAll')}
              </Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
      )}
    </section>
  );
}

function SentMessageCard({
  message,
  onRevoke,
  onExpiryChanged,
}: {
  message: SentMessage;
  onRevoke: (recipient?: string) => void;
  onExpiryChanged: (expiresAt: string, notice: string) => void;
}) {
  const styles = useStyles();
  const { t, language, api, settings } = usePane();
  const [editing, setEditing] = useState(false);
  const [day, setDay] = useState('');
  const [problem, setProblem] = useState<string>();
  const bounds = expiryBounds(settings);
  const allRevoked = message.recipients.every((r) => r.revokedAt);
  const subject = message.subject || t('noSubject');
  const inputId = `expiry-${message.id}`;

  function startEditing() {
    setDay(message.expiresAt ? utcDay(new Date(message.expiresAt)) : bounds.defaultDay);
    setProblem(undefined);
    setEditing(true);
  }

  async function saveExpiry() {
    const issue = validateExpiryDay(day, settings);
    const asked = parseExpiry(day);
    if (issue || !asked) {
      setProblem(issue === 'too-late' ? t('expiryTooLate', { latest: formatDay(language, new Date(`${bounds.max}T12:00:00Z`)), max: settings.maxExpiryDays ?? '' }) : issue === 'past' ? t('expiryPast') : t('expiryMissing'));
      return;
    }
    try {
      const answer = await api.changeExpiry(message.id, { expiresAt: formatExpiry(asked) });
      const set = new Date(answer.expiresAt);
      const capped = set.getTime() < asked.getTime() - 1000;
      setEditing(false);
      onExpiryChanged(answer.expiresAt, capped ? t('expiryCapped', { date: formatDay(language, set) }) : t('expiryChanged', { date: formatDay(language, set) }));
    } catch (error) {
      setProblem(t('actionFailed', { message: errorLine(t, error) }));
    }
  }

  return (
    <Card data-message-id={message.id}>
      <Text as="h3" weight="semibold">
        {subject}
      </Text>
      <Caption1>{t('sentOn', { date: formatDateTime(language, new Date(message.sentAt)) })}</Caption1>
      <Caption1 data-testid="message-expiry">
        {message.expiresAt ? t('expiresOn', { date: formatDay(language, new Date(message.expiresAt)) }) : t('noExpiry')}
      </Caption1>
      <ul className={styles.recipients}>
        {message.recipients.map((recipient) => (
          <li key={recipient.address} className={styles.recipient} data-recipient={recipient.address}>
            <span className={styles.status}>
              <RecipientStatusIcon recipient={recipient} />
              <span>
                <Text className={styles.address}>{recipient.address}</Text>
                <br />
                <Caption1>{recipientStatus(recipient)}</Caption1>
              </span>
            </span>
            {!recipient.revokedAt && message.recipients.length > 1 && (
              <Button size="small" aria-label={t('revokeOneLabel', { address: recipient.address })} onClick={() => onRevoke(recipient.address)}>
                {t('revokeOne')}
              </Button>
            )}
          </li>
        ))}
      </ul>
      {editing ? (
        <div className={styles.actions}>
          <Field label={t('newExpiryLabel', { subject })} validationState={problem ? 'error' : 'none'} validationMessage={problem}>
            <Input id={inputId} type="date" value={day} min={bounds.min} max={bounds.max} onChange={(_e, data) => setDay(data.value)} />
          </Field>
          <Button appearance="primary" onClick={() => void saveExpiry()}>
            {t('save')}
          </Button>
          <Button onClick={() => setEditing(false)}>{t('cancel')}</Button>
        </div>
      ) : (
        !allRevoked && (
          <div className={styles.actions}>
            <Button onClick={startEditing}>{t('changeExpiry')}</Button>
            <Button onClick={() => onRevoke(undefined)}>{t('revokeAll')}</Button>
          </div>
        )
      )}
    </Card>
  );

  function recipientStatus(recipient: SentRecipientStatus): string {
    if (recipient.revokedAt) return t('recipientRevoked', { date: formatDateTime(language, new Date(recipient.revokedAt)) });
    if (recipient.firstReadAt) return t('recipientRead', { date: formatDateTime(language, new Date(recipient.firstReadAt)) });
    return t('recipientUnread');
  }
}

function RecipientStatusIcon({ recipient }: { recipient: SentRecipientStatus }) {
  if (recipient.revokedAt) return <DismissCircleRegular aria-hidden="true" />;
  if (recipient.firstReadAt) return <CheckmarkCircleRegular aria-hidden="true" />;
  return <CircleRegular aria-hidden="true" />;
}
