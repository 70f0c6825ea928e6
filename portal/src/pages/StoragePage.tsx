/**
 * For owners, operators and (to read) analysts: the organisation's portal storage against its quotas,
 * from /api/portal/admin/storage. The whole organisation, each member against their quota, and the
 * threads that hold the most. Quotas are changed in the portal settings, not here.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useEffect, useState } from 'react';
import { ProgressBar, Spinner, Subtitle1, makeStyles, tokens } from '@fluentui/react-components';
import type { StorageOverview } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { canReadStorage, useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles, useTableStyles } from './common.tsx';

const useStyles = makeStyles({
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignSelf: 'stretch', minWidth: 0 },
  meter: { minWidth: '80px' },
  organisation: { maxWidth: '560px' },
});

/** How full a quota is: the bar turns amber from 80 % and red from 95 %. */
const colourFor = (share: number) => (share >= 0.95 ? 'error' : share >= 0.8 ? 'warning' : 'brand');

/**
 * A quota's use as a bar. It is a meter (a level), not a progress bar (work going on): the role says so,
 * and its text says the figures, not only the fraction.
 */
function QuotaMeter({ used, quota, label, text }: { used: number; quota: number; label: string; text: string }) {
  const styles = useStyles();
  const share = quota > 0 ? used / quota : used > 0 ? 1 : 0;
  return (
    <ProgressBar
      className={styles.meter}
      role="meter"
      aria-label={label}
      aria-valuetext={text}
      value={Math.min(share, 1)}
      max={1}
      color={colourFor(share)}
      thickness="large"
    />
  );
}

export function StoragePage() {
  const { t, language, formatDate, formatSize } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const allowed = canReadStorage(session?.role);
  const [overview, setOverview] = useState<StorageOverview | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);

  useEffect(() => {
    if (!allowed) return;
    api.get<StorageOverview>('/api/portal/admin/storage').then(setOverview, (error: unknown) => setProblem(problemDetail(error, t)));
  }, [allowed, t]);

  if (!allowed) return <Notice intent="error">{t('problemForbidden')}</Notice>;
  if (problem) return <Notice intent="error">{problem}</Notice>;
  if (!overview) return <Spinner label={t('loading')} />;

  const percent = new Intl.NumberFormat(language, { style: 'percent', maximumFractionDigits: 1 });
  const shareText = (used: number, quota: number) => {
    if (quota <= 0) return '–';
    // A little used of a large quota is not nothing: it reads "< 0.1%", not "0%".
    return used > 0 && used / quota < 0.001 ? `< ${percent.format(0.001)}` : percent.format(used / quota);
  };
  const { tenantQuotaBytes } = overview;

  return (
    <div className={page.stack}>
      <PageTitle>{t('storageTitle')}</PageTitle>
      <p className={page.muted}>{t('storageIntro')}</p>

      <section className={`${styles.section} ${styles.organisation}`} aria-labelledby="storage-organisation">
        <Subtitle1 as="h2" id="storage-organisation">
          {t('storageOrganisation')}
        </Subtitle1>
        {tenantQuotaBytes !== undefined ? (
          <>
            <p>
              {t('storageUsedOf', { used: formatSize(overview.usedBytes), quota: formatSize(tenantQuotaBytes) })} ({shareText(overview.usedBytes, tenantQuotaBytes)})
            </p>
            <QuotaMeter
              used={overview.usedBytes}
              quota={tenantQuotaBytes}
              label={t('storageOrganisation')}
              text={t('storageUsedOf', { used: formatSize(overview.usedBytes), quota: formatSize(tenantQuotaBytes) })}
            />
          </>
        ) : (
          <p>{t('storageUsedNoLimit', { used: formatSize(overview.usedBytes) })}</p>
        )}
        <p className={page.muted}>{t('storageMessageCount', { count: overview.messageCount })}</p>
        <p className={page.muted}>{t('storageDefaultQuota', { quota: formatSize(overview.memberDefaultQuotaBytes) })}</p>
      </section>

      <section className={styles.section} aria-labelledby="storage-members">
        <Subtitle1 as="h2" id="storage-members">
          {t('storageMembers')}
        </Subtitle1>
        {overview.members.length === 0 ? (
          <p>{t('storageMembersEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('storageMembersTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colMember')}</th>
                <th scope="col">{t('colUsed')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colQuota')}
                </th>
                <th scope="col">{t('colShare')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colCount')}
                </th>
              </tr>
            </thead>
            <tbody>
              {overview.members.map((member) => (
                <tr key={member.address}>
                  <td>
                    {member.address}
                    {member.ownQuota && <div className={styles.secondary}>{t('storageOwnQuota')}</div>}
                  </td>
                  <td className={styles.nowrap}>
                    {formatSize(member.usedBytes)}
                    <div className={`${styles.secondary} ${styles.narrowOnly}`}>
                      {t('colQuota')}: {formatSize(member.quotaBytes)}
                    </div>
                  </td>
                  <td className={`${styles.wideOnly} ${styles.nowrap}`}>{formatSize(member.quotaBytes)}</td>
                  <td>
                    <QuotaMeter
                      used={member.usedBytes}
                      quota={member.quotaBytes}
                      label={member.address}
                      text={t('storageShareOf', { member: member.address, used: formatSize(member.usedBytes), quota: formatSize(member.quotaBytes) })}
                    />
                    <div className={styles.secondary}>{shareText(member.usedBytes, member.quotaBytes)}</div>
                  </td>
                  <td className={styles.wideOnly}>{member.messageCount}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className={styles.section} aria-labelledby="storage-threads">
        <Subtitle1 as="h2" id="storage-threads">
          {t('storageThreads')}
        </Subtitle1>
        <p className={page.muted}>{t('storageThreadsNote')}</p>
        {overview.largestThreads.length === 0 ? (
          <p>{t('storageThreadsEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('storageThreads')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colMember')}</th>
                <th scope="col">{t('colCounterpart')}</th>
                <th scope="col">{t('colSize')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colCount')}
                </th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colDate')}
                </th>
              </tr>
            </thead>
            <tbody>
              {overview.largestThreads.map((thread) => (
                <tr key={thread.id}>
                  <td>{thread.member}</td>
                  <td>{thread.counterpart}</td>
                  <td className={styles.nowrap}>{formatSize(thread.bytes)}</td>
                  <td className={styles.wideOnly}>{thread.messageCount}</td>
                  <td className={styles.wideOnly}>
                    <time dateTime={thread.lastMessageAt}>{formatDate(thread.lastMessageAt)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
