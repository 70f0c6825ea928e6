/** One message: who, when, until when, its content in a sandboxed frame, its attachments, delete. */
import { useEffect, useMemo, useRef, useState } from 'react';
import {
  Body1,
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  DialogTrigger,
  Link,
  Spinner,
  Subtitle1,
  Subtitle2,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import type { PortalMessageView } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { whenIdle } from '../idle.ts';
import { messageFrameDocument } from '../message-frame.ts';
import { getPrefetched, useProvidedAnswer } from '../prefetch.ts';
import { problemText } from '../problems.ts';
import { Notice, usePageStyles } from './common.tsx';
import { ReplyForm } from './ReplyForm.tsx';

const useStyles = makeStyles({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content 1fr',
    columnGap: tokens.spacingHorizontalM,
    rowGap: tokens.spacingVerticalXXS,
    margin: 0,
    alignSelf: 'stretch',
    minWidth: 0,
    '& dt': { fontWeight: tokens.fontWeightSemibold },
    '& dd': { margin: 0, overflowWrap: 'anywhere' },
  },
  frame: {
    width: '100%',
    minHeight: '160px',
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
    backgroundColor: '#ffffff',
  },
  text: {
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
    fontFamily: tokens.fontFamilyBase,
    fontSize: tokens.fontSizeBase300,
    margin: 0,
    padding: tokens.spacingHorizontalM,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
    alignSelf: 'stretch',
  },
  attachments: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS },
});

const messagePath = (messageId: string, allowRemote: boolean) => `/api/portal/messages/${encodeURIComponent(messageId)}${allowRemote ? '?remote=allow' : ''}`;

export interface MessageViewProps {
  messageId: string;
  /** The conversation's subject, already the page's title: the message repeats it only when its own differs. */
  threadSubject?: string;
  allowRemote: boolean;
  threadCanReply: boolean;
  maxMessages: number;
  onAllowRemote: () => void;
  onDeleted: () => void;
  onReplied: () => void;
}

export function MessageView({ messageId, threadSubject, allowRemote, threadCanReply, maxMessages, onAllowRemote, onDeleted, onReplied }: MessageViewProps) {
  const { t, language, formatDate, formatSize } = useI18n();
  const styles = useStyles();
  const page = usePageStyles();
  // A message that came with the opened link is shown in the first rendering, without asking again.
  // (An answer comes with the link only for the message as first shown, without remote content.)
  const [providedView, wasProvided] = useProvidedAnswer<PortalMessageView>(allowRemote ? undefined : messagePath(messageId, false));
  const [view, setView] = useState(providedView);
  const [failure, setFailure] = useState<unknown>();
  const [deleteFailure, setDeleteFailure] = useState<unknown>();
  const frame = useRef<HTMLIFrameElement>(null);
  // The reply form is drawn once the message is on screen, so that showing the message waits for nothing else.
  const [messageShown, setMessageShown] = useState(false);

  useEffect(() => {
    if (wasProvided(messagePath(messageId, allowRemote))) return;
    let live = true;
    setView(undefined);
    setFailure(undefined);
    getPrefetched<PortalMessageView>(messagePath(messageId, allowRemote)).then(
      (answer) => live && setView(answer),
      (error: unknown) => live && setFailure(error),
    );
    return () => {
      live = false;
    };
  }, [messageId, allowRemote, wasProvided]);

  useEffect(() => {
    if (!view) return;
    // A frame that never reports its load must not keep the reply form away.
    const timer = window.setTimeout(() => setMessageShown(true), view.html ? 1000 : 0);
    return () => window.clearTimeout(timer);
  }, [view]);

  const fitFrame = () => {
    const document = frame.current?.contentDocument;
    if (frame.current && document?.documentElement) frame.current.style.height = `${document.documentElement.scrollHeight + 4}px`;
    // After the next paint the message is on screen; the reply form is drawn once the browser has a moment,
    // so that drawing it never holds back that paint.
    requestAnimationFrame(() => whenIdle(() => setMessageShown(true), { timeoutMs: 300, fallbackMs: 0 }));
  };

  // Parsed once per message: the view renders again (the reply form, a dialog) without the HTML changing.
  const frameDocument = useMemo(
    () => (view?.html ? messageFrameDocument(view.html, { allowRemote, origin: window.location.origin, language }) : undefined),
    [view, allowRemote, language],
  );

  const remove = async () => {
    try {
      await api.delete(`/api/portal/messages/${encodeURIComponent(messageId)}`);
      onDeleted();
    } catch (error) {
      setDeleteFailure(error);
    }
  };

  if (failure !== undefined) return <Notice intent="error">{problemText(failure, t)}</Notice>;
  if (!view) return <Spinner label={t('loading')} />;

  const downloads = view.attachments.filter((a) => !a.contentId);
  const base = `/api/portal/messages/${encodeURIComponent(view.id)}`;
  return (
    <article aria-labelledby="message-subject" className={page.stack}>
      <Subtitle1 as="h2" id="message-subject" className={page.wrap}>
        {threadSubject !== undefined && view.subject === threadSubject
          ? t('messageHeading', { sender: view.fromName || view.from })
          : view.subject || t('noSubject')}
      </Subtitle1>
      <dl className={styles.facts}>
        <dt>{t('messageFrom')}</dt>
        <dd>{view.fromName ? `${view.fromName} <${view.from}>` : view.from}</dd>
        <dt>{t('messageTo')}</dt>
        <dd>{view.to.join(', ')}</dd>
        {view.cc.length > 0 && (
          <>
            <dt>{t('messageCc')}</dt>
            <dd>{view.cc.join(', ')}</dd>
          </>
        )}
        <dt>{t('messageDate')}</dt>
        <dd>{formatDate(view.sentAt)}</dd>
        {view.expiresAt && (
          <>
            <dt>{t('messageExpires')}</dt>
            <dd>{formatDate(view.expiresAt)}</dd>
          </>
        )}
      </dl>

      {view.integrity === 'failed' && (
        <Notice intent="error" title={t('integrityFailedTitle')}>
          {t('integrityFailedBody')}
        </Notice>
      )}
      {view.hasBlockedRemoteContent && !allowRemote && (
        <div className={page.wide}>
          <Notice intent="info">
            {t('remoteBlocked')}{' '}
            <Button size="small" onClick={onAllowRemote}>
              {t('remoteAllow')}
            </Button>
          </Notice>
        </div>
      )}

      {view.html ? (
        <iframe
          ref={frame}
          className={styles.frame}
          title={t('messageBody')}
          sandbox="allow-same-origin allow-popups allow-popups-to-escape-sandbox"
          referrerPolicy="no-referrer"
          srcDoc={frameDocument}
          onLoad={fitFrame}
        />
      ) : (
        view.text && (
          <pre className={styles.text}>
            {view.text}
          </pre>
        )
      )}

      {downloads.length > 0 && (
        <section aria-labelledby="attachments-heading" className={page.stack}>
          <Subtitle2 as="h3" id="attachments-heading">
            {t('attachmentsTitle')}
          </Subtitle2>
          <ul className={styles.attachments}>
            {downloads.map((attachment) => (
              <li key={attachment.id} className={page.wrap}>
                <Link href={`${base}/attachments/${encodeURIComponent(attachment.id)}`}>
                  {attachment.filename}
                </Link>{' '}
                <Body1 className={page.muted}>
                  ({attachment.contentType}, {formatSize(attachment.size)})
                </Body1>
              </li>
            ))}
          </ul>
        </section>
      )}

      <Dialog>
        <DialogTrigger disableButtonEnhancement>
          <Button appearance="secondary">{t('deleteMessage')}</Button>
        </DialogTrigger>
        <DialogSurface>
          <DialogBody>
            <DialogTitle>{t('deleteConfirmTitle')}</DialogTitle>
            <DialogContent>{t('deleteConfirmBody')}</DialogContent>
            <DialogActions>
              <DialogTrigger disableButtonEnhancement>
                <Button appearance="primary" onClick={() => void remove()}>
                  {t('deleteConfirm')}
                </Button>
              </DialogTrigger>
              <DialogTrigger disableButtonEnhancement>
                <Button appearance="secondary">{t('cancel')}</Button>
              </DialogTrigger>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>
      {deleteFailure !== undefined && <Notice intent="error">{problemText(deleteFailure, t)}</Notice>}

      {view.canReply && threadCanReply && messageShown && <ReplyForm messageId={view.id} maxMessages={maxMessages} onReplied={onReplied} />}
    </article>
  );
}
