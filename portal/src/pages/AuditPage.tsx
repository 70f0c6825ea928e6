/**
 * For owners, operators and auditors: the organisation's audit log through /api/portal/admin/audit.
 * A filter (action, actor, subject, time range), pages cut by entry number (older and newer), the filtered
 * entries as a CSV or JSON download, and a check of the hash chain that says where it breaks, if anywhere.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Button, Field, Input, Select, Spinner, makeStyles, tokens } from '@fluentui/react-components';
import {
  AUDIT_EXPORT_CAPPED_HEADER,
  AUDIT_EXPORT_COUNT_HEADER,
  type AuditEntryList,
  type AuditEntryView,
  type AuditVerification,
} from '../../../common/src/portal-api.ts';
import { api, downloadFile } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { canReadAudit, useSession } from '../session.tsx';
import { actionLabel } from './audit-actions.ts';
import { Notice, PageTitle, usePageStyles, useTableStyles } from './common.tsx';

const AUDIT = '/api/portal/admin/audit';
const PAGE_SIZE = 50;

interface Filter {
  action: string;
  actor: string;
  subjectId: string;
  /** As the date-time inputs hold them: local time, no zone. */
  from: string;
  to: string;
}

const NO_FILTER: Filter = { action: '', actor: '', subjectId: '', from: '', to: '' };

/** Which page: the newest, or the one before or after an entry number. */
type Cursor = { kind: 'newest' } | { kind: 'before'; seq: number } | { kind: 'after'; seq: number };

/** The filter as query parameters; local times become instants, as the server compares them. */
function filterQuery(filter: Filter): URLSearchParams {
  const query = new URLSearchParams();
  if (filter.action) query.set('action', filter.action);
  if (filter.actor.trim()) query.set('actor', filter.actor.trim());
  if (filter.subjectId.trim()) query.set('subjectId', filter.subjectId.trim());
  if (filter.from) query.set('from', new Date(filter.from).toISOString());
  if (filter.to) query.set('to', new Date(filter.to).toISOString());
  return query;
}

const rangeInverted = (filter: Filter) => Boolean(filter.from && filter.to && new Date(filter.from).getTime() >= new Date(filter.to).getTime());

const detailText = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The answer's file name from its Content-Disposition, else one made here. */
function fileNameOf(headers: Headers, format: 'csv' | 'json'): string {
  const match = /filename="([^"]{1,100})"/.exec(headers.get('content-disposition') ?? '');
  return match?.[1] ?? `audit-log.${format}`;
}

function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  // The browser has taken the file once the click is handled; the address is freed after that turn.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

const useStyles = makeStyles({
  form: {
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fit, minmax(200px, 1fr))',
    gap: tokens.spacingHorizontalM,
    alignSelf: 'stretch',
    alignItems: 'end',
    // A field may be narrower than its longest option: the action names are long in German.
    '& > *': { minWidth: 0 },
  },
  select: { minWidth: 0, maxWidth: '100%' },
  details: { margin: 0, padding: 0, listStyleType: 'none' },
  detailKey: { color: tokens.colorNeutralForeground2 },
});

function Details({ details }: { details: Record<string, unknown> }) {
  const styles = useStyles();
  const entries = Object.entries(details);
  if (entries.length === 0) return null;
  return (
    <ul className={styles.details}>
      {entries.map(([key, value]) => (
        <li key={key}>
          <span className={styles.detailKey}>{key}:</span> {detailText(value)}
        </li>
      ))}
    </ul>
  );
}

export function AuditPage() {
  const { t, formatDate } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const allowed = canReadAudit(session?.role);
  const [draft, setDraft] = useState<Filter>(NO_FILTER);
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const [cursor, setCursor] = useState<Cursor>({ kind: 'newest' });
  const [list, setList] = useState<AuditEntryList | undefined>(undefined);
  const [actions, setActions] = useState<string[]>([]);
  const [notice, setNotice] = useState<{ intent: 'success' | 'error' | 'warning'; title?: string; text: string } | undefined>(undefined);
  const [busy, setBusy] = useState<'csv' | 'json' | 'verify' | undefined>(undefined);

  const load = useCallback(async (applied: Filter, at: Cursor) => {
    const query = filterQuery(applied);
    query.set('limit', String(PAGE_SIZE));
    if (at.kind !== 'newest') query.set(at.kind, String(at.seq));
    try {
      const answer = await api.get<AuditEntryList>(`${AUDIT}?${query.toString()}`);
      setList(answer);
      setActions(answer.actions);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
      setList((known) => known ?? { entries: [], hasOlder: false, hasNewer: false, actions: [] });
    }
  }, [t]);

  useEffect(() => {
    if (allowed) void load(filter, cursor);
  }, [allowed, load, filter, cursor]);

  if (!allowed) return <Notice intent="error">{t('problemForbidden')}</Notice>;

  const apply = (event: FormEvent) => {
    event.preventDefault();
    if (rangeInverted(draft)) {
      setNotice({ intent: 'error', text: t('auditRangeInverted') });
      return;
    }
    setNotice(undefined);
    setList(undefined);
    setFilter({ ...draft });
    setCursor({ kind: 'newest' });
  };

  const clear = () => {
    setNotice(undefined);
    setDraft(NO_FILTER);
    setFilter(NO_FILTER);
    setCursor({ kind: 'newest' });
  };

  const exportAs = async (format: 'csv' | 'json') => {
    setBusy(format);
    try {
      const query = filterQuery(filter);
      query.set('format', format);
      const { blob, headers } = await downloadFile(`${AUDIT}/export?${query.toString()}`);
      saveBlob(fileNameOf(headers, format), blob);
      const count = Number(headers.get(AUDIT_EXPORT_COUNT_HEADER) ?? 0);
      setNotice(
        headers.get(AUDIT_EXPORT_CAPPED_HEADER) === 'true'
          ? { intent: 'warning', text: t('auditExportCapped', { count }) }
          : { intent: 'success', text: t('auditExported', { count }) },
      );
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  const verify = async () => {
    setBusy('verify');
    try {
      const result = await api.get<AuditVerification>(`${AUDIT}/verify`);
      if (result.ok) {
        setNotice({ intent: 'success', text: t('auditVerifyOk', { checked: result.checked, checkpoints: result.checkpoints ?? 0 }) });
      } else {
        const first = result.firstBroken ?? result.problems?.[0];
        const parts = [
          first ? t('auditVerifyBroken', { seq: first.seq ?? '?', reason: first.reason }) : '',
          t('auditVerifyProblems', { count: result.problems?.length ?? 1 }),
        ];
        setNotice({ intent: 'error', title: t('auditVerifyBrokenTitle'), text: parts.filter(Boolean).join(' ') });
      }
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  const actor = (entry: AuditEntryView) => entry.actorAddress ?? t('auditGateway');
  const entries = list?.entries ?? [];

  return (
    <div className={page.stack}>
      <PageTitle>{t('auditTitle')}</PageTitle>
      <p className={page.muted}>{t('auditIntro')}</p>

      <form className={styles.form} onSubmit={apply} aria-label={t('auditFilter')}>
        <Field label={t('auditFilterAction')}>
          <Select className={styles.select} select={{ className: styles.select }} value={draft.action} onChange={(_, data) => setDraft({ ...draft, action: data.value })}>
            <option value="">{t('auditAnyAction')}</option>
            {actions.map((action) => (
              <option key={action} value={action}>
                {actionLabel(action, t)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t('auditFilterActor')}>
          <Input value={draft.actor} maxLength={320} onChange={(_, data) => setDraft({ ...draft, actor: data.value })} />
        </Field>
        <Field label={t('auditFilterSubject')}>
          <Input value={draft.subjectId} maxLength={100} onChange={(_, data) => setDraft({ ...draft, subjectId: data.value })} />
        </Field>
        <Field label={t('auditFilterFrom')}>
          <Input type="datetime-local" value={draft.from} onChange={(_, data) => setDraft({ ...draft, from: data.value })} />
        </Field>
        <Field label={t('auditFilterTo')}>
          <Input type="datetime-local" value={draft.to} onChange={(_, data) => setDraft({ ...draft, to: data.value })} />
        </Field>
        <div className={page.row}>
          <Button appearance="primary" type="submit">
            {t('auditApply')}
          </Button>
          <Button type="button" onClick={clear}>
            {t('auditClear')}
          </Button>
        </div>
      </form>

      <div className={page.row}>
        <Button disabled={busy !== undefined} onClick={() => void exportAs('csv')}>
          {busy === 'csv' ? t('auditExporting') : t('auditExportCsv')}
        </Button>
        <Button disabled={busy !== undefined} onClick={() => void exportAs('json')}>
          {busy === 'json' ? t('auditExporting') : t('auditExportJson')}
        </Button>
        <Button disabled={busy !== undefined} onClick={() => void verify()}>
          {busy === 'verify' ? t('auditVerifying') : t('auditVerify')}
        </Button>
      </div>
      {notice && (
        <Notice intent={notice.intent} title={notice.title}>
          {notice.text}
        </Notice>
      )}

      {list === undefined ? (
        <Spinner label={t('loading')} />
      ) : entries.length === 0 ? (
        <p>{t('auditEmpty')}</p>
      ) : (
        <table className={styles.table}>
          <caption className={styles.caption}>{t('auditTable')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('colTime')}</th>
              <th scope="col">{t('colAction')}</th>
              <th scope="col" className={styles.wideOnly}>
                {t('colActor')}
              </th>
              <th scope="col" className={styles.wideOnly}>
                {t('colClientIp')}
              </th>
              <th scope="col" className={styles.wideOnly}>
                {t('colDetails')}
              </th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.seq}>
                <td>
                  <time dateTime={entry.at}>{formatDate(entry.at)}</time>
                  <div className={styles.secondary}>{t('auditEntryNumber', { seq: entry.seq })}</div>
                </td>
                <td>
                  {actionLabel(entry.action, t)}
                  {entry.subjectId && <div className={styles.secondary}>{t('auditSubject', { id: entry.subjectId })}</div>}
                  <div className={styles.narrowOnly}>
                    <div>{actor(entry)}</div>
                    {entry.clientIp && <div className={styles.secondary}>{entry.clientIp}</div>}
                    <div className={styles.secondary}>
                      <Details details={entry.details} />
                    </div>
                  </div>
                </td>
                <td className={styles.wideOnly}>{actor(entry)}</td>
                <td className={styles.wideOnly}>{entry.clientIp ?? ''}</td>
                <td className={`${styles.wideOnly} ${styles.secondary}`}>
                  <Details details={entry.details} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {list && (list.hasNewer || list.hasOlder) && (
        <nav aria-label={t('auditPages')} className={page.row}>
          <Button disabled={!list.hasNewer} onClick={() => setCursor({ kind: 'newest' })}>
            {t('auditNewest')}
          </Button>
          <Button disabled={!list.hasNewer} onClick={() => setCursor(entries[0] ? { kind: 'after', seq: entries[0].seq } : { kind: 'newest' })}>
            {t('auditNewer')}
          </Button>
          <Button disabled={!list.hasOlder} onClick={() => setCursor(entries.length ? { kind: 'before', seq: entries.at(-1)!.seq } : { kind: 'newest' })}>
            {t('auditOlder')}
          </Button>
        </nav>
      )}
    </div>
  );
}
