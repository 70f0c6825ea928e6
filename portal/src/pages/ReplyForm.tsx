/** The reply: text and files within the tenant's limits, sent as multipart/form-data. */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Body1, Button, Field, Subtitle2, Textarea, makeStyles, tokens } from '@fluentui/react-components';
import type { PortalLimits, ReplyCreated } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { Notice, usePageStyles } from './common.tsx';

const useStyles = makeStyles({
  files: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS },
  hidden: { display: 'none' },
});

export function ReplyForm({ messageId, maxMessages, onReplied }: { messageId: string; maxMessages: number; onReplied: (created: ReplyCreated) => void }) {
  const { t, formatSize } = useI18n();
  const styles = useStyles();
  const page = usePageStyles();
  const [limits, setLimits] = useState<PortalLimits | undefined>();
  const [text, setText] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const [state, setState] = useState<{ kind: 'idle' | 'sending' | 'sent' } | { kind: 'failed'; message: string }>({ kind: 'idle' });
  const picker = useRef<HTMLInputElement>(null);

  useEffect(() => {
    api.get<PortalLimits>('/api/portal/limits').then(setLimits, () => undefined);
  }, []);

  const limitValues = limits && {
    files: limits.maxAttachments,
    each: formatSize(limits.maxAttachmentBytes),
    total: formatSize(limits.maxReplyBytes),
  };

  /** The first limit the reply breaks, as a sentence; undefined when it fits. */
  const broken = (): string | undefined => {
    if (!text.trim()) return t('replyEmpty');
    if (!limits || !limitValues) return undefined;
    if (files.length > limits.maxAttachments) return t('replyTooManyFiles', limitValues);
    const big = files.find((f) => f.size > limits.maxAttachmentBytes);
    if (big) return t('replyFileTooLarge', { ...limitValues, name: big.name });
    const total = new TextEncoder().encode(text).length + files.reduce((sum, f) => sum + f.size, 0);
    if (total > limits.maxReplyBytes) return t('replyTotalTooLarge', limitValues);
    return undefined;
  };

  const send = async (event: FormEvent) => {
    event.preventDefault();
    const problem = broken();
    if (problem) {
      setState({ kind: 'failed', message: problem });
      return;
    }
    setState({ kind: 'sending' });
    const form = new FormData();
    form.append('text', text);
    for (const file of files) form.append('attachments', file, file.name);
    try {
      const created = await api.post<ReplyCreated>(`/api/portal/messages/${encodeURIComponent(messageId)}/replies`, form);
      setText('');
      setFiles([]);
      setState({ kind: 'sent' });
      onReplied(created);
    } catch (error) {
      setState({ kind: 'failed', message: problemText(error, t, { maxMessages }) });
    }
  };

  return (
    <section aria-labelledby="reply-heading" className={`${page.stack} ${page.wide}`}>
      <Subtitle2 as="h3" id="reply-heading">
        {t('replyTitle')}
      </Subtitle2>
      <form onSubmit={(e) => void send(e)} className={`${page.stack} ${page.wide}`}>
        <Field label={t('replyText')} required className={page.wide}>
          <Textarea value={text} onChange={(_, data) => setText(data.value)} resize="vertical" rows={6} />
        </Field>
        {limitValues && <Body1 as="p">{t('replyLimits', limitValues)}</Body1>}
        <input
          ref={picker}
          type="file"
          multiple
          className={styles.hidden}
          aria-hidden="true"
          tabIndex={-1}
          onChange={(event) => {
            const chosen = Array.from(event.target.files ?? []);
            setFiles((current) => [...current, ...chosen]);
            event.target.value = '';
          }}
        />
        <Button onClick={() => picker.current?.click()}>{t('replyFiles')}</Button>
        {files.length > 0 && (
          <ul className={styles.files} aria-label={t('replyFilesChosen')}>
            {files.map((file, index) => (
              <li key={`${file.name}-${index}`} className={`${page.row} ${page.wrap}`}>
                <Body1>
                  {file.name} ({formatSize(file.size)})
                </Body1>
                <Button size="small" appearance="subtle" onClick={() => setFiles((current) => current.filter((_, i) => i !== index))}>
                  {t('replyRemoveFile', { name: file.name })}
                </Button>
              </li>
            ))}
          </ul>
        )}
        <Button type="submit" appearance="primary" disabled={state.kind === 'sending'}>
          {state.kind === 'sending' ? t('replySending') : t('replySend')}
        </Button>
      </form>
      {state.kind === 'sent' && <Notice intent="success">{t('replySent')}</Notice>}
      {state.kind === 'failed' && <Notice intent="error">{state.message}</Notice>}
    </section>
  );
}
