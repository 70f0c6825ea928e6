/** The admin console's navigation (the pages it lists: console-nav.tsx). */
import './console-i18n.ts';
import { useEffect, useId, useState } from 'react';
import { Button, Caption1, Link, makeStyles, mergeClasses, tokens } from '@fluentui/react-components';
import type { PortalRole } from '../../common/src/portal-api.ts';
import { useI18n, type MessageKey } from './i18n.tsx';
import { followInApp, useLocation } from './router.ts';
import { consoleLinksFor } from './console-nav.tsx';

const NARROW = '@media (max-width: 720px)';

const useStyles = makeStyles({
  nav: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalM,
    position: 'sticky',
    top: tokens.spacingVerticalL,
    [NARROW]: { position: 'static', gap: tokens.spacingVerticalS },
  },
  toggle: { display: 'none', [NARROW]: { display: 'inline-flex', alignSelf: 'stretch', justifyContent: 'space-between' } },
  groups: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM },
  closed: { [NARROW]: { display: 'none' } },
  group: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXXS },
  groupName: { color: tokens.colorNeutralForeground3, textTransform: 'uppercase', letterSpacing: '0.04em' },
  list: { listStyleType: 'none', margin: 0, padding: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXXS },
  link: {
    display: 'block',
    padding: `${tokens.spacingVerticalXS} ${tokens.spacingHorizontalS}`,
    borderRadius: tokens.borderRadiusMedium,
    borderLeft: `${tokens.strokeWidthThicker} solid transparent`,
    [NARROW]: { padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalS}` },
  },
  current: { backgroundColor: tokens.colorBrandBackground2, borderLeftColor: tokens.colorBrandStroke1, fontWeight: tokens.fontWeightSemibold },
});

export function ConsoleNav({ role }: { role: PortalRole | undefined }) {
  const styles = useStyles();
  const { t } = useI18n();
  const { path } = useLocation();
  const [open, setOpen] = useState(false);
  const listId = useId();
  const links = consoleLinksFor(role);
  const current = links.find((link) => link.to === path);
  // A page chosen from the list closes it again on a phone.
  useEffect(() => setOpen(false), [path]);
  if (links.length === 0) return null;
  const group = (name: 'monitor' | 'configure', label: MessageKey) => {
    const members = links.filter((link) => link.group === name);
    if (members.length === 0) return null;
    const headingId = `${listId}-${name}`;
    return (
      <div className={styles.group}>
        <Caption1 id={headingId} className={styles.groupName}>
          {t(label)}
        </Caption1>
        <ul className={styles.list} aria-labelledby={headingId}>
          {members.map((link) => (
            <li key={link.to}>
              <Link
                href={link.to}
                className={mergeClasses(styles.link, link.to === path && styles.current)}
                onClick={(e) => followInApp(e, link.to)}
                aria-current={link.to === path ? 'page' : undefined}
              >
                {t(link.label)}
              </Link>
            </li>
          ))}
        </ul>
      </div>
    );
  };
  return (
    <nav aria-label={t('consoleNavigation')} className={styles.nav}>
      <Button className={styles.toggle} aria-expanded={open} aria-controls={listId} onClick={() => setOpen(!open)}>
        {current ? t('consoleMenuCurrent', { page: t(current.label) }) : t('consoleNavigation')}
        <span aria-hidden="true">{open ? '▲' : '▼'}</span>
      </Button>
      <div id={listId} className={mergeClasses(styles.groups, !open && styles.closed)}>
        {group('monitor', 'navGroupMonitor')}
        {group('configure', 'navGroupConfigure')}
      </div>
    </nav>
  );
}
