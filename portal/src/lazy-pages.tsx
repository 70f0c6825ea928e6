/**
 * The portal's pages, each its own script file (webpack chunk), loaded when its address is first shown.
 * The open page is not here: it is what a notification's link leads to, so it comes with the first file.
 * A page whose file was fetched ahead (preload) renders at once, without showing the loading spinner.
 */
import { createElement, use, type ComponentType } from 'react';

export interface LazyPage<P> {
  (props: P): React.ReactNode;
  /** Starts fetching the page's file; resolves once it can render without waiting. */
  preload: () => Promise<void>;
}

function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): LazyPage<P> {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<ComponentType<P>> | undefined;
  const start = () => {
    pending ??= load().then(
      (component) => (loaded = component),
      (error: unknown) => {
        // A failed fetch (network gone) may be tried again the next time the page is shown.
        pending = undefined;
        throw error;
      },
    );
    return pending;
  };
  const Page = (props: P) => createElement(loaded ?? use(start()), props);
  return Object.assign(Page, { preload: () => start().then(() => undefined) });
}

export const StartPage = lazyPage(() => import(/* webpackChunkName: "start" */ './pages/StartPage.tsx').then((m) => m.StartPage));
export const InboxPage = lazyPage(() => import(/* webpackChunkName: "inbox" */ './pages/InboxPage.tsx').then((m) => m.InboxPage));
export const ThreadPage = lazyPage(() => import(/* webpackChunkName: "thread" */ './pages/ThreadPage.tsx').then((m) => m.ThreadPage));
export const SentPage = lazyPage(() => import(/* webpackChunkName: "sent" */ './pages/SentPage.tsx').then((m) => m.SentPage));
export const SetupPage = lazyPage(() => import(/* webpackChunkName: "setup" */ './pages/SetupPage.tsx').then((m) => m.SetupPage));
export const IpChangedPage = lazyPage(() => import(/* webpackChunkName: "ip-changed" */ './pages/IpChangedPage.tsx').then((m) => m.IpChangedPage));
export const NotFoundPage = lazyPage(() => import(/* webpackChunkName: "not-found" */ './pages/NotFoundPage.tsx').then((m) => m.NotFoundPage));
export const QuarantinePage = lazyPage(() => import(/* webpackChunkName: "quarantine" */ './pages/QuarantinePage.tsx').then((m) => m.QuarantinePage));
export const PoliciesPage = lazyPage(() => import(/* webpackChunkName: "policies" */ './pages/PoliciesPage.tsx').then((m) => m.PoliciesPage));
export const PgpKeysPage = lazyPage(() => import(/* webpackChunkName: "pgp-keys" */ './pages/PgpKeysPage.tsx').then((m) => m.PgpKeysPage));
export const CertificatesPage = lazyPage(() => import(/* webpackChunkName: "certificates" */ './pages/CertificatesPage.tsx').then((m) => m.CertificatesPage));
export const SecondFactorPage = lazyPage(() => import(/* webpackChunkName: "second-factor" */ './pages/SecondFactorPage.tsx').then((m) => m.SecondFactorPage));
export const MessageTracePage = lazyPage(() => import(/* webpackChunkName: "message-trace" */ './pages/MessageTracePage.tsx').then((m) => m.MessageTracePage));
export const OverviewPage = lazyPage(() => import(/* webpackChunkName: "overview" */ './pages/OverviewPage.tsx').then((m) => m.OverviewPage));
export const AuditPage = lazyPage(() => import(/* webpackChunkName: "audit" */ './pages/AuditPage.tsx').then((m) => m.AuditPage));
export const StoragePage = lazyPage(() => import(/* webpackChunkName: "storage" */ './pages/StoragePage.tsx').then((m) => m.StoragePage));
export const SettingsPage = lazyPage(() => import(/* webpackChunkName: "settings" */ './pages/SettingsPage.tsx').then((m) => m.SettingsPage));
export const MembersPage = lazyPage(() => import(/* webpackChunkName: "members" */ './pages/MembersPage.tsx').then((m) => m.MembersPage));
export const TokensPage = lazyPage(() => import(/* webpackChunkName: "tokens" */ './pages/TokensPage.tsx').then((m) => m.TokensPage));
export const EntraCallbackPage = lazyPage(() => import(/* webpackChunkName: "entra-callback" */ './pages/EntraCallbackPage.tsx').then((m) => m.EntraCallbackPage));
/** The admin console's navigation beside its pages. */
export const ConsoleNav = lazyPage(() => import(/* webpackChunkName: "console-nav" */ './ConsoleNav.tsx').then((m) => m.ConsoleNav));
