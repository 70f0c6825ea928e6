/**
 * The admin console's own navigation: every console page a role may open, in two groups (what happens,
 * what is set up). Beside the page on wide screens; on a phone one button that opens the list, so the
 * header stays one line whatever the number of pages. Each console page is one entry here; the navigation
 * itself (ConsoleNav.tsx) is its own script file, which readers of a message never load.
 */
import type { PortalRole } from '../../common/src/portal-api.ts';
import type { MessageKey } from './i18n.tsx';
import { canReadAudit, canReadMembers, canReadPolicies, canReadSettings, canReadStorage, canReadTokens, isAdminRole } from './session.tsx';

export interface ConsoleLink {
  to: string;
  label: MessageKey;
  group: 'monitor' | 'configure';
  allowed: (role: PortalRole | undefined) => boolean;
}

export const CONSOLE_LINKS: readonly ConsoleLink[] = [
  { to: '/portal/admin/overview', label: 'navOverview', group: 'monitor', allowed: canReadPolicies },
  { to: '/portal/admin/messages', label: 'navTrace', group: 'monitor', allowed: canReadPolicies },
  { to: '/portal/admin/storage', label: 'navStorage', group: 'monitor', allowed: canReadStorage },
  { to: '/portal/admin/audit', label: 'navAudit', group: 'monitor', allowed: canReadAudit },
  { to: '/portal/admin/policies', label: 'navPolicies', group: 'configure', allowed: canReadPolicies },
  { to: '/portal/admin/certificates', label: 'navCertificates', group: 'configure', allowed: isAdminRole },
  { to: '/portal/admin/pgp-keys', label: 'navPgp', group: 'configure', allowed: isAdminRole },
  { to: '/portal/admin/settings', label: 'navSettings', group: 'configure', allowed: canReadSettings },
  { to: '/portal/admin/members', label: 'navMembers', group: 'configure', allowed: canReadMembers },
  { to: '/portal/admin/tokens', label: 'navTokens', group: 'configure', allowed: canReadTokens },
  { to: '/portal/admin/setup', label: 'navSetup', group: 'configure', allowed: isAdminRole },
];

/** The console pages this role may open, in the navigation's order. */
export const consoleLinksFor = (role: PortalRole | undefined): ConsoleLink[] => CONSOLE_LINKS.filter((link) => link.allowed(role));

export const isConsolePath = (path: string): boolean => path.startsWith('/portal/admin/');

