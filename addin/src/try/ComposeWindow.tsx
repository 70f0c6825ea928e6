/**
 * The try page: a compose window like Outlook's (From, To, Cc, subject, message, Send) with the real task
 * pane in a frame beside it. The draft lives here (draft.ts) and the pane reaches it through its Outlook
 * host (office-host.ts); Send posts the draft with the headers the pane set to the gateway, which takes it
 * over SMTP from the demo's connector address.
 */
import { useCallback, useMemo, useState, useSyncExternalStore } from 'react';
import {
  Button,
  Field,
  FluentProvider,
  Input,
  MessageBar,
  MessageBarBody,
  MessageBarTitle,
  Text,
  Textarea,
  Title2,
  makeStyles,
  tokens,
  webLightTheme,
} from '@fluentui/react-components';
import {
  ADDIN_TRY_CONNECTOR_ADDRESS,
  ADDIN_TRY_SEND_PATH,
  ADDIN_TRY_SENDER,
  type AddinTrySendRequest,
  type AddinTrySendResponse,
} from '../../../common/src/addin-api.ts';
import { addressesIn, TRY_DRAFT_GLOBAL, TryDraft, type DraftFields } from './draft.ts';
import { tryTranslator } from './strings.ts';

const EMPTY_DRAFT: DraftFields = { to: '', cc: '', subject: '', body: '' };

const draft = new TryDraft({ emailAddress: ADDIN_TRY_SENDER, displayName: 'Demo admin' }, navigator.language, EMPTY_DRAFT);
// Before the pane's frame exists: its Outlook host looks for the draft as soon as it loads.
(window as unknown as Record<string, unknown>)[TRY_DRAFT_GLOBAL] = draft;

const useStyles = makeStyles({
  page: { padding: tokens.spacingHorizontalL, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, boxSizing: 'border-box' },
  columns: { display: 'flex', gap: tokens.spacingHorizontalL, alignItems: 'stretch', flexWrap: 'wrap' },
  compose: {
    flex: '1 1 420px',
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalS,
    padding: tokens.spacingHorizontalM,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke1}`,
    borderRadius: tokens.borderRadiusMedium,
  },
  actions: { display: 'flex', gap: tokens.spacingHorizontalS },
  pane: {
    flex: '0 0 360px',
    height: '760px',
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke1}`,
    borderRadius: tokens.borderRadiusMedium,
  },
});

type Outcome = { kind: 'sent'; response: AddinTrySendResponse } | { kind: 'failed'; message: string };

async function postDraft(request: AddinTrySendRequest, fresh = false): Promise<AddinTrySendResponse> {
  const token = await draft.accessToken(fresh);
  const response = await fetch(ADDIN_TRY_SEND_PATH, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(request),
  });
  if (response.status === 401 && !fresh) return postDraft(request, true);
  const body = (await response.json().catch(() => ({}))) as Partial<AddinTrySendResponse> & { title?: string; detail?: string };
  if (!response.ok) throw new Error(body.detail ? `${body.title ?? `HTTP ${response.status}`}: ${body.detail}` : (body.title ?? `HTTP ${response.status}`));
  return body as AddinTrySendResponse;
}

export function ComposeWindow() {
  const styles = useStyles();
  const { language, t } = useMemo(() => tryTranslator(draft.displayLanguage), []);
  useSyncExternalStore(draft.subscribe, draft.snapshot);
  // To and Cc are typed here and handed to the draft when the field is left, as Outlook resolves names then.
  const [typed, setTyped] = useState({ to: draft.fields.to, cc: draft.fields.cc });
  const [sending, setSending] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [paneKey, setPaneKey] = useState(0);

  const commitRecipients = useCallback(() => draft.update({ to: typed.to, cc: typed.cc }), [typed]);

  const send = useCallback(async () => {
    commitRecipients();
    const to = addressesIn(typed.to);
    const cc = addressesIn(typed.cc);
    if (to.length + cc.length === 0) {
      setOutcome({ kind: 'failed', message: t('noRecipient') });
      return;
    }
    setSending(true);
    setOutcome(undefined);
    try {
      const response = await postDraft({ to, cc, subject: draft.fields.subject, body: draft.fields.body, headers: draft.headers() });
      setOutcome({ kind: 'sent', response });
      // Outlook closes the sent draft; here a new one starts, with a new pane.
      draft.reset(EMPTY_DRAFT);
      setTyped({ to: '', cc: '' });
      setPaneKey((k) => k + 1);
    } catch (error) {
      setOutcome({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
    } finally {
      setSending(false);
    }
  }, [commitRecipients, typed, t]);

  const onRecipientKey = (event: React.KeyboardEvent) => {
    if (event.key === 'Enter') commitRecipients();
  };

  return (
    <FluentProvider theme={webLightTheme} lang={language}>
      <main className={styles.page}>
        <Title2 as="h1">{t('pageTitle')}</Title2>
        <MessageBar intent="info" layout="multiline">
          <MessageBarBody>
            {t('intro', { connector: ADDIN_TRY_CONNECTOR_ADDRESS })} {t('signedInAs', { address: ADDIN_TRY_SENDER })}
          </MessageBarBody>
        </MessageBar>
        {outcome?.kind === 'sent' && (
          <MessageBar intent="success" layout="multiline" data-testid="try-sent">
            <MessageBarBody>
              <MessageBarTitle>{t('sentTitle')}</MessageBarTitle>
              {outcome.response.messageIds.length > 0
                ? t('sentBody', { reply: outcome.response.reply, id: outcome.response.messageIds.join(', ') })
                : t('sentNoId', { reply: outcome.response.reply })}
            </MessageBarBody>
          </MessageBar>
        )}
        {outcome?.kind === 'failed' && (
          <MessageBar intent="error" layout="multiline" role="alert" data-testid="try-failed">
            <MessageBarBody>
              <MessageBarTitle>{t('sendFailed')}</MessageBarTitle>
              {outcome.message}
            </MessageBarBody>
          </MessageBar>
        )}
        <div className={styles.columns}>
          <section className={styles.compose} aria-label={t('draftLabel')}>
            <Text>
              {t('from')}: <strong>{ADDIN_TRY_SENDER}</strong>
            </Text>
            <Field label={t('to')} hint={t('addressesHint')}>
              <Input
                value={typed.to}
                onChange={(_e, data) => setTyped((v) => ({ ...v, to: data.value }))}
                onBlur={commitRecipients}
                onKeyDown={onRecipientKey}
              />
            </Field>
            <Field label={t('cc')}>
              <Input
                value={typed.cc}
                onChange={(_e, data) => setTyped((v) => ({ ...v, cc: data.value }))}
                onBlur={commitRecipients}
                onKeyDown={onRecipientKey}
              />
            </Field>
            <Field label={t('subject')}>
              <Input value={draft.fields.subject} onChange={(_e, data) => draft.update({ subject: data.value })} />
            </Field>
            <Field label={t('body')}>
              <Textarea value={draft.fields.body} resize="vertical" rows={10} onChange={(_e, data) => draft.update({ body: data.value })} />
            </Field>
            <div className={styles.actions}>
              <Button appearance="primary" disabled={sending} onClick={send}>
                {sending ? t('sending') : t('send')}
              </Button>
            </div>
          </section>
          <iframe key={paneKey} className={styles.pane} src="taskpane.html" title={t('paneTitle')} />
        </div>
      </main>
    </FluentProvider>
  );
}
