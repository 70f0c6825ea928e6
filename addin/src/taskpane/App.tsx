/**
 * The task pane: waits for Outlook, signs the sender in, loads the tenant's settings, then offers
 * protection for the draft and the sender's secure messages as two views.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import {
  Button,
  FluentProvider,
  MessageBar,
  MessageBarActions,
  MessageBarBody,
  MessageBarTitle,
  Spinner,
  Text,
  ToggleButton,
  Title2,
  makeStyles,
  tokens,
  webLightTheme,
} from '@fluentui/react-components';
import type { AddinSettings } from '../../../common/src/addin-api.ts';
import { AddinApi } from '../shared/api.ts';
import { signIn } from '../shared/auth.ts';
import { languageFor, translator, type Language } from '../shared/i18n.ts';
import { displayLanguage, isOutlookHost, officeReady } from '../shared/office.ts';
import { PaneProvider, type PaneContext } from './context.tsx';
import { describeError } from './errors.ts';
import { ProtectPanel } from './ProtectPanel.tsx';
import { SentMessages } from './SentMessages.tsx';

const useStyles = makeStyles({
  root: { padding: tokens.spacingHorizontalM, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, minHeight: '100vh', boxSizing: 'border-box' },
  header: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXXS },
  views: { display: 'flex', gap: tokens.spacingHorizontalS, flexWrap: 'wrap' },
});

type Phase =
  | { kind: 'starting' }
  | { kind: 'not-outlook' }
  | { kind: 'signing-in' }
  | { kind: 'failed'; error: unknown }
  | { kind: 'ready'; api: AddinApi; settings: AddinSettings };

export function App() {
  const styles = useStyles();
  const [language, setLanguage] = useState<Language>(languageFor(typeof navigator !== 'undefined' ? navigator.language : 'en'));
  const t = useMemo(() => translator(language), [language]);
  const [phase, setPhase] = useState<Phase>({ kind: 'starting' });
  const [attempt, setAttempt] = useState(0);
  const [view, setView] = useState<'protect' | 'sent'>('protect');

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const host = await officeReady();
      if (cancelled) return;
      if (!isOutlookHost(host)) {
        setPhase({ kind: 'not-outlook' });
        return;
      }
      setLanguage(languageFor(displayLanguage()));
      setPhase({ kind: 'signing-in' });
      try {
        const api = new AddinApi(await signIn());
        const settings = await api.settings();
        if (!cancelled) setPhase({ kind: 'ready', api, settings });
      } catch (error) {
        if (!cancelled) setPhase({ kind: 'failed', error });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  const context: PaneContext | undefined = useMemo(
    () => (phase.kind === 'ready' ? { language, t, api: phase.api, settings: phase.settings } : undefined),
    [phase, language, t],
  );

  let body: React.ReactNode;
  switch (phase.kind) {
    case 'starting':
      body = <Spinner label={t('starting')} />;
      break;
    case 'signing-in':
      body = <Spinner label={t('signingIn')} />;
      break;
    case 'not-outlook':
      body = (
        <MessageBar intent="info" layout="multiline">
          <MessageBarBody>
            <MessageBarTitle>{t('notInOutlookTitle')}</MessageBarTitle>
            {t('notInOutlookBody')}
          </MessageBarBody>
        </MessageBar>
      );
      break;
    case 'failed': {
      const { title, message } = describeError(t, phase.error);
      body = (
        <MessageBar intent="error" layout="multiline" role="alert" data-testid="pane-error">
          <MessageBarBody>
            <MessageBarTitle>{title}</MessageBarTitle>
            {message}
          </MessageBarBody>
          <MessageBarActions>
            <Button onClick={retry}>{t('tryAgain')}</Button>
          </MessageBarActions>
        </MessageBar>
      );
      break;
    }
    case 'ready':
      body = (
        <PaneProvider value={context!}>
          <Text size={200}>{t('tenantLine', { tenant: phase.settings.tenantName })}</Text>
          {/* Two views switched by pressed buttons: Fluent's TabList adds hidden focus guards that fail axe. */}
          <nav className={styles.views} aria-label={t('appTitle')}>
            <ToggleButton appearance="subtle" checked={view === 'protect'} aria-pressed={view === 'protect'} onClick={() => setView('protect')}>
              {t('tabProtect')}
            </ToggleButton>
            <ToggleButton appearance="subtle" checked={view === 'sent'} aria-pressed={view === 'sent'} onClick={() => setView('sent')}>
              {t('tabSent')}
            </ToggleButton>
          </nav>
          {/* The protect view stays mounted so its header writes and recipient handler survive a change of view. */}
          <div hidden={view !== 'protect'}>
            <ProtectPanel />
          </div>
          {view === 'sent' && <SentMessages />}
        </PaneProvider>
      );
      break;
  }

  return (
    <FluentProvider theme={webLightTheme}>
      <main className={styles.root}>
        <header className={styles.header}>
          <Title2 as="h1">{t('appTitle')}</Title2>
        </header>
        {body}
      </main>
    </FluentProvider>
  );
}
