/**
 * How each recipient of the draft would be reached, as the gateway resolves it (POST /api/addin/preview).
 * Follows To, Cc and Bcc through RecipientsChanged (Mailbox 1.7), briefly debounced; below 1.7 the
 * sender refreshes by hand.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Button,
  Caption1,
  MessageBar,
  MessageBarBody,
  Spinner,
  Subtitle2,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import {
  ArrowClockwiseRegular,
  ArrowUndoRegular,
  BuildingRegular,
  CertificateRegular,
  DocumentPdfRegular,
  GlobeRegular,
  KeyRegular,
  MailRegular,
  WarningRegular,
} from '@fluentui/react-icons';
import type { RecipientMethod, RecipientPreview as Preview } from '../../../common/src/addin-api.ts';
import type { MessageKey } from '../shared/i18n.ts';
import { getAllRecipients, isSetSupported, onRecipientsChanged } from '../shared/office.ts';
import { usePane } from './context.tsx';
import { errorLine } from './errors.ts';
import type { SecuredMode } from './protection.ts';

const DEBOUNCE_MS = 250;

const METHOD_ICONS: Record<RecipientMethod, typeof GlobeRegular> = {
  relay: BuildingRegular,
  portal: GlobeRegular,
  smime: CertificateRegular,
  pgp: KeyRegular,
  pdf: DocumentPdfRegular,
  held: WarningRegular,
  clear: MailRegular,
  refused: ArrowUndoRegular,
};

const useStyles = makeStyles({
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  heading: { display: 'flex', alignItems: 'center', justifyContent: 'space-between', gap: tokens.spacingHorizontalS },
  address: { display: 'flex', flexDirection: 'column', minWidth: 0 },
  // An address has no spaces: it may break anywhere, but only where it must. The reason is prose and
  // wraps between words like any sentence.
  addressText: { overflowWrap: 'anywhere' },
  reason: { overflowWrap: 'break-word', hyphens: 'auto' },
  methodColumn: { width: '7.5rem' },
  method: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalXS },
  held: { color: tokens.colorPaletteRedForeground1 },
});

export function RecipientPreview({ mode, secure, onRows }: { mode: SecuredMode; secure: boolean; onRows?: (rows: Preview[]) => void }) {
  const styles = useStyles();
  const { t, api } = usePane();
  const followsChanges = useMemo(() => isSetSupported('Mailbox', '1.7'), []);
  const [rows, setRows] = useState<Preview[]>();
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const generation = useRef(0);
  const modeRef = useRef(mode);
  modeRef.current = mode;

  const load = useCallback(async () => {
    const mine = ++generation.current;
    setBusy(true);
    try {
      const recipients = await getAllRecipients();
      const answer = recipients.length === 0 ? { recipients: [] } : await api.preview({ recipients, mode: modeRef.current });
      if (mine !== generation.current) return;
      setRows(answer.recipients);
      onRows?.(answer.recipients);
      setProblem(undefined);
    } catch (error) {
      if (mine === generation.current) setProblem(t('previewFailed', { message: errorLine(t, error) }));
    } finally {
      if (mine === generation.current) setBusy(false);
    }
  }, [api, t, onRows]);

  useEffect(() => {
    void load();
  }, [load, mode]);

  useEffect(() => {
    if (!followsChanges) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let remove: (() => void) | undefined;
    let cancelled = false;
    onRecipientsChanged(() => {
      clearTimeout(timer);
      timer = setTimeout(() => void load(), DEBOUNCE_MS);
    })
      .then((remover) => (cancelled ? remover() : (remove = remover)))
      .catch((error) => setProblem(t('previewFailed', { message: errorLine(t, error) })));
    return () => {
      cancelled = true;
      clearTimeout(timer);
      remove?.();
    };
  }, [followsChanges, load, t]);

  return (
    <section className={styles.section} aria-labelledby="preview-heading" aria-busy={busy}>
      <div className={styles.heading}>
        <Subtitle2 as="h2" id="preview-heading">
          {t('previewTitle')}
        </Subtitle2>
        {!followsChanges && (
          <Button icon={<ArrowClockwiseRegular />} onClick={() => void load()} data-testid="preview-refresh">
            {t('refresh')}
          </Button>
        )}
      </div>
      {!secure && rows && rows.length > 0 && <Caption1>{t('previewOffNote')}</Caption1>}
      {problem && (
        <MessageBar intent="error" layout="multiline">
          <MessageBarBody>{problem}</MessageBarBody>
        </MessageBar>
      )}
      {rows === undefined && !problem && <Spinner size="tiny" label={t('loading')} />}
      {rows !== undefined && rows.length === 0 && <Text>{t('previewEmpty')}</Text>}
      {rows !== undefined && rows.length > 0 && (
        <Table size="small" aria-labelledby="preview-heading" data-testid="preview">
          <TableHeader>
            <TableRow>
              <TableHeaderCell>{t('previewRecipient')}</TableHeaderCell>
              <TableHeaderCell className={styles.methodColumn}>{t('previewMethod')}</TableHeaderCell>
            </TableRow>
          </TableHeader>
          <TableBody>
            {rows.map((row) => {
              const Icon = METHOD_ICONS[row.method] ?? WarningRegular;
              return (
                <TableRow key={row.address} data-recipient={row.address} data-method={row.method}>
                  <TableCell>
                    <span className={styles.address}>
                      <Text className={styles.addressText}>{row.address}</Text>
                      <Caption1 className={styles.reason}>{row.reasonCode ? t(`reason_${row.reasonCode}` as MessageKey) : row.reason}</Caption1>
                    </span>
                  </TableCell>
                  <TableCell className={styles.methodColumn}>
                    <span className={`${styles.method} ${row.method === 'held' || row.method === 'refused' ? styles.held : ''}`}>
                      <Icon aria-hidden="true" />
                      <Text>{t(`method_${row.method}` as MessageKey)}</Text>
                    </span>
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
    </section>
  );
}
