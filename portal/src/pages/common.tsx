/** Small pieces several pages share. */
import { useState, type ReactNode } from 'react';
import { Button, MessageBar, MessageBarBody, MessageBarTitle, Title3, makeStyles, tokens } from '@fluentui/react-components';
import type { RequestLinkRequest } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';

export const usePageStyles = makeStyles({
  stack: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignItems: 'flex-start', minWidth: 0 },
  wide: { alignSelf: 'stretch' },
  row: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'center' },
  muted: { color: tokens.colorNeutralForeground2 },
  /** Text that may hold long addresses or unbroken words: it wraps inside its box instead of widening the page. */
  wrap: { overflowWrap: 'anywhere', minWidth: 0 },
  title: {
    margin: 0,
    overflowWrap: 'anywhere',
    // A long subject as the title of a phone's page should not fill the screen.
    '@media (max-width: 480px)': { fontSize: tokens.fontSizeBase500, lineHeight: tokens.lineHeightBase500 },
  },
});

/** Tables of the pages that list things: compact rows, and on a phone only the columns that matter. */
export const useTableStyles = makeStyles({
  table: {
    alignSelf: 'stretch',
    borderCollapse: 'collapse',
    fontFamily: tokens.fontFamilyBase,
    fontSize: tokens.fontSizeBase300,
    '& th, & td': {
      textAlign: 'start',
      verticalAlign: 'top',
      padding: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalS}`,
      borderBottom: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
      overflowWrap: 'anywhere',
    },
    '& th': { fontWeight: tokens.fontWeightSemibold, color: tokens.colorNeutralForeground2 },
  },
  caption: { textAlign: 'start', captionSide: 'top', paddingBottom: tokens.spacingVerticalXS, color: tokens.colorNeutralForeground2 },
  nowrap: { whiteSpace: 'nowrap', overflowWrap: 'normal' },
  // On a phone a row is one cell: the subject, and under it sender, date and score.
  wideOnly: { '@media (max-width: 600px)': { display: 'none' } },
  narrowOnly: { display: 'none', '@media (max-width: 600px)': { display: 'block' } },
  secondary: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content minmax(0, 1fr)',
    columnGap: tokens.spacingHorizontalM,
    rowGap: tokens.spacingVerticalXS,
    margin: 0,
    fontFamily: tokens.fontFamilyBase,
    fontSize: tokens.fontSizeBase300,
    overflowWrap: 'anywhere',
    '& dt': { color: tokens.colorNeutralForeground2 },
    '& dd': { margin: 0 },
  },
  symbol: { fontFamily: tokens.fontFamilyMonospace, overflowWrap: 'anywhere' },
});

export function PageTitle({ children }: { children: ReactNode }) {
  const styles = usePageStyles();
  return (
    <Title3 as="h1" className={styles.title}>
      {children}
    </Title3>
  );
}

export function Notice({ intent, title, children }: { intent: 'success' | 'error' | 'warning' | 'info'; title?: string; children: ReactNode }) {
  return (
    <MessageBar intent={intent} layout="multiline" role={intent === 'error' || intent === 'warning' ? 'alert' : 'status'}>
      <MessageBarBody>
        {title && <MessageBarTitle>{title}</MessageBarTitle>}
        {children}
      </MessageBarBody>
    </MessageBar>
  );
}

/** "Send me a new link": POST /api/portal/links/request, then a confirmation or why it did not work. */
export function RequestLinkButton({ body, sentText }: { body: RequestLinkRequest; sentText: string }) {
  const { t } = useI18n();
  const styles = usePageStyles();
  const [state, setState] = useState<{ kind: 'idle' | 'sending' | 'sent' } | { kind: 'failed'; message: string }>({ kind: 'idle' });
  const request = async () => {
    setState({ kind: 'sending' });
    try {
      await api.post('/api/portal/links/request', body, { quiet: true });
      setState({ kind: 'sent' });
    } catch (error) {
      setState({ kind: 'failed', message: problemText(error, t) });
    }
  };
  return (
    <div className={styles.stack}>
      {state.kind !== 'sent' && (
        <Button appearance="primary" disabled={state.kind === 'sending'} onClick={() => void request()}>
          {state.kind === 'sending' ? t('requesting') : t('requestLink')}
        </Button>
      )}
      {state.kind === 'sent' && <Notice intent="success">{sentText}</Notice>}
      {state.kind === 'failed' && <Notice intent="error">{state.message}</Notice>}
    </div>
  );
}

/**
 * Moves focus to the page's content after a confirmation dialog did its work: focus left on the closed
 * dialog would keep the rest of the page hidden from screen readers until the reader moved it themselves.
 */
export function focusContent(): void {
  document.getElementById('content')?.focus();
}
