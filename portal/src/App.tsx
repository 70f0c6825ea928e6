/**
 * The portal's frame: header with navigation and language, the page for the current address. Every page
 * but the open page is its own script file (lazy-pages.tsx), fetched when its address is first shown.
 */
import { Suspense, useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Button, FluentProvider, Link, Spinner, Text, makeStyles, mergeClasses, tokens } from '@fluentui/react-components';
import { ENTRA_SIGN_IN_CALLBACK_PATH, type PortalBranding, type PortalLanguage, type PortalSession } from '../../common/src/portal-api.ts';
import { withoutTrailingSlashes } from '../../common/src/trailing-slashes.ts';
import { ApiProblem, api, onSessionProblem, setCsrfToken } from './api.ts';
import { I18nContext, browserLanguage, makeI18n, storeLanguage, storedLanguage, useI18n } from './i18n.tsx';
import { followInApp, navigate, useLocation } from './router.ts';
import { SessionContext, canReadPolicies, fetchSession, useSession } from './session.tsx';
import { consoleLinksFor, isConsolePath } from './console-nav.tsx';
import { useBrandTheme, useLinkBranding } from './branding.tsx';
import { OpenPage } from './pages/OpenPage.tsx';
import {
  AuditPage,
  ConsoleNav,
  CertificatesPage,
  EntraCallbackPage,
  InboxPage,
  IpChangedPage,
  MembersPage,
  MessageTracePage,
  OverviewPage,
  NotFoundPage,
  PgpKeysPage,
  PoliciesPage,
  QuarantinePage,
  SecondFactorPage,
  SentPage,
  SettingsPage,
  SetupPage,
  StartPage,
  StoragePage,
  ThreadPage,
  TokensPage,
} from './lazy-pages.tsx';
import { rememberAfterSignIn } from './after-sign-in.ts';

const useStyles = makeStyles({
  header: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    columnGap: tokens.spacingHorizontalM,
    rowGap: tokens.spacingVerticalXS,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalL}`,
    borderTop: `${tokens.strokeWidthThickest} solid ${tokens.colorBrandBackground}`,
    borderBottom: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    backgroundColor: tokens.colorNeutralBackground1,
    '@media (max-width: 480px)': { padding: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalM}` },
  },
  brand: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalS, marginRight: 'auto', minWidth: 0 },
  logo: { display: 'block', height: '28px', width: 'auto', maxWidth: '120px', objectFit: 'contain' },
  brandName: { color: tokens.colorBrandForeground1, overflowWrap: 'anywhere' },
  product: { color: tokens.colorNeutralForeground3 },
  nav: { display: 'flex', gap: tokens.spacingHorizontalM },
  navList: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, listStyleType: 'none', margin: 0, padding: 0 },
  account: { color: tokens.colorNeutralForeground2, overflowWrap: 'anywhere', minWidth: 0 },
  main: {
    maxWidth: '960px',
    boxSizing: 'border-box',
    margin: '0 auto',
    padding: `${tokens.spacingVerticalL} ${tokens.spacingHorizontalL}`,
    '@media (max-width: 480px)': { padding: `${tokens.spacingVerticalM} ${tokens.spacingHorizontalM}` },
    // The pages space their parts with gaps; the browser's own heading and paragraph margins would double them.
    '& h1, & h2, & h3, & p': { marginBlock: 0 },
  },
  /** A console page: its navigation beside it, or above it on a phone. */
  consoleMain: { maxWidth: '1240px' },
  console: {
    display: 'grid',
    gridTemplateColumns: '200px minmax(0, 1fr)',
    columnGap: tokens.spacingHorizontalXXL,
    alignItems: 'start',
    '@media (max-width: 720px)': { gridTemplateColumns: 'minmax(0, 1fr)', rowGap: tokens.spacingVerticalM },
  },
  skip: {
    position: 'absolute',
    left: '-10000px',
    ':focus': { left: tokens.spacingHorizontalS, top: tokens.spacingVerticalS, zIndex: 1, backgroundColor: tokens.colorNeutralBackground1 },
  },
});

/** The header's left end: the tenant's logo and name when it has branding, else the tenant's and Sealpost's names. */
function BrandMark({ branding, tenantName }: { branding: PortalBranding | undefined; tenantName: string | undefined }) {
  const styles = useStyles();
  const { t } = useI18n();
  if (branding?.name || branding?.logoUrl) {
    return (
      <div className={styles.brand}>
        {branding.logoUrl && <img className={styles.logo} src={branding.logoUrl} alt={branding.name ? '' : (tenantName ?? '')} />}
        {branding.name && (
          <Text weight="semibold" size={400} className={styles.brandName}>
            {branding.name}
          </Text>
        )}
        <Text size={200} className={styles.product}>
          {t('portalTitle')}
        </Text>
      </div>
    );
  }
  return (
    <div className={styles.brand}>
      <Text weight="semibold" size={400}>
        {tenantName ? `${tenantName} · ${t('productName')}` : t('productName')}
      </Text>
    </div>
  );
}

function Header({ language, onLanguage, branding }: { language: PortalLanguage; onLanguage: (l: PortalLanguage) => void; branding?: PortalBranding }) {
  const styles = useStyles();
  const { t } = useI18n();
  const { session } = useSession();
  const { path } = useLocation();
  const signOut = async () => {
    try {
      await api.delete('/api/portal/session', { quiet: true });
    } catch {
      // an already ended session is signed out as well
    }
    setCsrfToken('');
    window.location.assign('/portal/');
  };
  const navLink = (to: string, label: string) => (
    <li>
      <Link href={to} onClick={(e) => followInApp(e, to)} aria-current={path === to ? 'page' : undefined}>
        {label}
      </Link>
    </li>
  );
  const other: PortalLanguage = language === 'en' ? 'de' : 'en';
  // The console's pages have their own navigation beside the page (console-nav.tsx); the header links to its first.
  const consoleHome = session ? consoleLinksFor(session.role)[0]?.to : undefined;
  return (
    <header className={styles.header}>
      <BrandMark branding={branding} tenantName={session?.tenantName} />
      {session && (
        <nav aria-label={t('navigation')} className={styles.nav}>
          <ul className={styles.navList}>
            {navLink('/portal/threads', t('navInbox'))}
            {session.role && navLink('/portal/sent', t('navSent'))}
            {session.role && navLink('/portal/quarantine', t('navQuarantine'))}
            {consoleHome && (
              <li>
                <Link href={consoleHome} onClick={(e) => followInApp(e, consoleHome)} aria-current={isConsolePath(path) ? 'true' : undefined}>
                  {t('navAdministration')}
                </Link>
              </li>
            )}
          </ul>
        </nav>
      )}
      {session && (
        <Text size={200} className={styles.account}>
          {t('signedInAs', { address: session.address })}
        </Text>
      )}
      <Button appearance="subtle" size="small" lang={other} onClick={() => onLanguage(other)}>
        {t('switchLanguage')}
      </Button>
      {session && (
        <Button appearance="secondary" size="small" onClick={() => void signOut()}>
          {t('signOut')}
        </Button>
      )}
    </header>
  );
}

function Page({ ipChanged, factorNeeded, onFactorDone }: { ipChanged: boolean; factorNeeded: boolean; onFactorDone: () => void }) {
  const { path } = useLocation();
  const { session } = useSession();
  const { t } = useI18n();
  if (path === '/portal/open') return <OpenPage />;
  if (path === ENTRA_SIGN_IN_CALLBACK_PATH) return <EntraCallbackPage />;
  if (ipChanged) return <IpChangedPage />;
  if (path === '/portal') return <StartPage />;
  if (session === undefined) return <Spinner label={t('loading')} />;
  // Whatever page was asked for shows once the recipient proved their second factor.
  if (session && (session.secondFactor === 'required' || factorNeeded)) return <SecondFactorPage onDone={onFactorDone} />;
  const threadMatch = /^\/portal\/threads\/([^/]+)$/.exec(path);
  if (path === '/portal/threads' || threadMatch || path === '/portal/sent' || path === '/portal/admin/setup' || path === '/portal/admin/certificates' || path === '/portal/admin/pgp-keys') {
    if (!session) return <StartPage />;
    if (path === '/portal/admin/certificates') return <CertificatesPage />;
    if (path === '/portal/admin/pgp-keys') return <PgpKeysPage />;
    if (threadMatch) return <ThreadPage threadId={decodeURIComponent(threadMatch[1]!)} />;
    if (path === '/portal/sent') return <SentPage />;
    if (path === '/portal/admin/setup') return <SetupPage />;
    return <InboxPage />;
  }
  const quarantineMatch = /^\/portal\/quarantine\/([^/]+)$/.exec(path);
  if (path === '/portal/quarantine' || quarantineMatch || path === '/portal/admin/policies' || path === '/portal/admin/messages' || path === '/portal/admin/overview' || path === '/portal/admin/audit' || path === '/portal/admin/storage' || path === '/portal/admin/settings' || path === '/portal/admin/members' || path === '/portal/admin/tokens') {
    if (!session) {
      // A notice's link: after signing in, the member lands on the message.
      rememberAfterSignIn(path);
      return <StartPage />;
    }
    if (path === '/portal/admin/policies') return <PoliciesPage />;
    if (path === '/portal/admin/messages') return canReadPolicies(session.role) ? <MessageTracePage /> : <NotFoundPage />;
    if (path === '/portal/admin/overview') return canReadPolicies(session.role) ? <OverviewPage /> : <NotFoundPage />;
    if (path === '/portal/admin/audit') return <AuditPage />;
    if (path === '/portal/admin/storage') return <StoragePage />;
    if (path === '/portal/admin/settings') return <SettingsPage />;
    if (path === '/portal/admin/members') return <MembersPage />;
    if (path === '/portal/admin/tokens') return <TokensPage />;
    return <QuarantinePage messageId={quarantineMatch ? decodeURIComponent(quarantineMatch[1]!) : undefined} />;
  }
  return <NotFoundPage />;
}

function Main({ styles, session, children }: { styles: ReturnType<typeof useStyles>; session: PortalSession | null | undefined; children: ReactNode }) {
  const { path } = useLocation();
  const consolePage = session && session.secondFactor !== 'required' && isConsolePath(path) && consoleLinksFor(session.role).length > 0;
  return (
    <main id="content" className={mergeClasses(styles.main, consolePage ? styles.consoleMain : undefined)} tabIndex={-1}>
      {consolePage ? (
        <div className={styles.console}>
          <Suspense fallback={null}>
            <ConsoleNav role={session.role} />
          </Suspense>
          <div>{children}</div>
        </div>
      ) : (
        children
      )}
    </main>
  );
}

export function App() {
  const styles = useStyles();
  const [session, setSession] = useState<PortalSession | null | undefined>(undefined);
  const [ipChanged, setIpChanged] = useState(false);
  /** A message asked for the second factor this session has not proved yet. */
  const [factorNeeded, setFactorNeeded] = useState(false);
  const [chosenLanguage, setChosenLanguage] = useState<PortalLanguage | undefined>(storedLanguage);
  const language = chosenLanguage ?? session?.language ?? browserLanguage();
  const i18n = useMemo(() => makeI18n(language), [language]);
  const linkBranding = useLinkBranding();
  const branding = session ? session.branding : linkBranding;
  const theme = useBrandTheme(branding);

  const adopt = useCallback((known: PortalSession) => {
    setCsrfToken(known.csrfToken);
    setSession(known);
    setIpChanged(false);
  }, []);

  const reload = useCallback(async () => {
    try {
      const current = await fetchSession();
      setSession(current);
      setIpChanged(false);
      return current;
    } catch (error) {
      if (error instanceof ApiProblem && error.is('session-ip-changed')) setIpChanged(true);
      setSession(null);
      return null;
    }
  }, []);

  useEffect(() => {
    // The open page and the organisation sign-in's return start a session of their own; asking for one meanwhile could answer after it.
    const startsOwnSession = ['/portal/open', ENTRA_SIGN_IN_CALLBACK_PATH].includes(withoutTrailingSlashes(window.location.pathname));
    if (startsOwnSession) setSession(null);
    else void reload();
    return onSessionProblem((problem) => {
      if (problem.is('second-factor-required')) {
        setFactorNeeded(true);
      } else if (problem.is('session-ip-changed')) {
        setIpChanged(true);
      } else {
        setSession(null);
        navigate('/portal/');
      }
    });
  }, [reload]);

  useEffect(() => {
    document.documentElement.lang = language;
    document.title = `${i18n.t('portalTitle')} · ${i18n.t('productName')}`;
  }, [language, i18n]);

  const chooseLanguage = (next: PortalLanguage) => {
    storeLanguage(next);
    setChosenLanguage(next);
  };

  return (
    <FluentProvider theme={theme}>
      <I18nContext.Provider value={i18n}>
        <SessionContext.Provider value={{ session, reload, adopt }}>
          <a href="#content" className={styles.skip}>
            {i18n.t('skipToContent')}
          </a>
          <Header language={language} onLanguage={chooseLanguage} branding={branding} />
          <Main styles={styles} session={session}>
            <Suspense fallback={<Spinner label={i18n.t('loading')} />}>
              <Page ipChanged={ipChanged} factorNeeded={factorNeeded} onFactorDone={() => setFactorNeeded(false)} />
            </Suspense>
          </Main>
        </SessionContext.Provider>
      </I18nContext.Provider>
    </FluentProvider>
  );
}
