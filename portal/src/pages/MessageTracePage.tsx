/**
 * The message trace, for every console role: search the organisation's messages by sender, recipient
 * (an address or a whole domain), Message-ID, time range, direction, state and verdict, newest first, a
 * page at a time; open one to see its timeline (every stage, finding and delivery attempt) and its
 * deliveries. Reads GET /api/portal/admin/messages (backend/src/http/message-trace-routes.ts).
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useEffect, useState, type FormEvent } from 'react';
import { Button, Field, Input, Select, Spinner, Subtitle1, makeStyles, tokens } from '@fluentui/react-components';
import type { MessageHit, MessageTimeline as Timeline } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { navigate, useLocation } from '../router.ts';
import { Notice, PageTitle, usePageStyles, useTableStyles } from './common.tsx';

const SEARCH = '/api/portal/admin/messages';

interface Filters {
  sender: string;
  recipient: string;
  messageId: string;
  from: string;
  to: string;
  direction: string;
  state: string;
  verdict: string;
}

const EMPTY: Filters = { sender: '', recipient: '', messageId: '', from: '', to: '', direction: '', state: '', verdict: '' };
const DIRECTIONS = ['inbound', 'outbound', 'notification'];
const STATES = ['received', 'routed', 'delivered', 'partly_delivered', 'bounced', 'held', 'quarantined', 'rejected'];
const VERDICTS = ['deliver', 'flag', 'quarantine', 'reject'];

const useStyles = makeStyles({
  form: {
    display: 'grid',
    gridTemplateColumns: 'repeat(auto-fill, minmax(200px, 1fr))',
    gap: tokens.spacingHorizontalM,
    alignSelf: 'stretch',
    alignItems: 'end',
  },
  actions: { display: 'flex', gap: tokens.spacingHorizontalS, flexWrap: 'wrap' },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignSelf: 'stretch', minWidth: 0 },
  steps: { margin: 0, paddingInlineStart: tokens.spacingHorizontalL, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  detail: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200, overflowWrap: 'anywhere', margin: 0 },
  rowButton: { textAlign: 'start', minWidth: 0, overflowWrap: 'anywhere' },
});

/** `datetime-local` values are the reader's local time; the API wants instants. */
const instant = (local: string) => (local ? new Date(local).toISOString() : '');

/** What a trace step's detail says, as short lines (the values the gateway wrote, not a translation). */
function detailLines(detail: Record<string, unknown>): string[] {
  return Object.entries(detail)
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .slice(0, 12);
}

export function MessageTracePage() {
  const { t, formatDate, formatSize } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { query } = useLocation();
  const openId = query.get('message') ?? '';
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [hits, setHits] = useState<MessageHit[] | undefined>(undefined);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const [timeline, setTimeline] = useState<Timeline | undefined>(undefined);

  const label = (key: string) => t(key as MessageKey);

  const run = async (current: Filters, after?: string) => {
    setBusy(true);
    setFailure(undefined);
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(current)) {
      if (!value) continue;
      params.set(key, key === 'from' || key === 'to' ? instant(value) : value.trim());
    }
    if (after) params.set('after', after);
    try {
      const answer = await api.get<{ messages: MessageHit[]; next?: string }>(`${SEARCH}?${params}`);
      setHits((before) => (after ? [...(before ?? []), ...answer.messages] : answer.messages));
      setNext(answer.next);
    } catch (error) {
      setFailure(problemDetail(error, t));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void run(EMPTY);
    // The first page of everything once, when the page opens.
  }, []);

  useEffect(() => {
    if (!openId) {
      setTimeline(undefined);
      return;
    }
    let live = true;
    api
      .get<Timeline>(`${SEARCH}/${encodeURIComponent(openId)}`)
      .then((answer) => live && setTimeline(answer))
      .catch((error: unknown) => live && setFailure(problemDetail(error, t)));
    return () => {
      live = false;
    };
  }, [openId, t]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void run(filters);
  };
  const set = (key: keyof Filters) => (_: unknown, data: { value: string }) => setFilters((before) => ({ ...before, [key]: data.value }));

  if (openId) {
    return (
      <div className={page.stack}>
        <Button appearance="subtle" onClick={() => navigate('/portal/admin/messages')}>
          {t('traceBack')}
        </Button>
        <PageTitle>{t('traceTimelineTitle')}</PageTitle>
        {failure && <Notice intent="error">{failure}</Notice>}
        {!timeline && !failure && <Spinner label={t('loading')} />}
        {timeline && (
          <>
            <dl className={styles.facts}>
              <dt>{t('traceFrom')}</dt>
              <dd>{timeline.message.mailFrom || '<>'}</dd>
              <dt>{t('traceTo')}</dt>
              <dd>{timeline.message.recipients.join(', ')}</dd>
              <dt>{t('traceReceived')}</dt>
              <dd>{formatDate(timeline.message.receivedAt)}</dd>
              <dt>{t('traceDirection')}</dt>
              <dd>{label(`traceDirection_${timeline.message.direction}`)}</dd>
              <dt>{t('traceState')}</dt>
              <dd>{label(`traceState_${timeline.message.state}`)}</dd>
              {timeline.message.verdict && (
                <>
                  <dt>{t('traceVerdict')}</dt>
                  <dd>
                    {label(`action_${timeline.message.verdict}`)}
                    {timeline.message.score !== undefined ? ` (${timeline.message.score})` : ''}
                  </dd>
                </>
              )}
              <dt>Message-ID</dt>
              <dd>{timeline.message.messageIdHeader ?? '—'}</dd>
              <dt>{t('traceSize')}</dt>
              <dd>{formatSize(timeline.message.sizeBytes)}</dd>
            </dl>
            <section className={styles.section} aria-labelledby="trace-steps">
              <Subtitle1 as="h2" id="trace-steps">
                {t('traceSteps')}
              </Subtitle1>
              <ol className={styles.steps}>
                {timeline.trace.map((step, index) => (
                  <li key={index}>
                    <strong>{step.step}</strong> · {formatDate(step.at)}
                    {detailLines(step.detail).map((line) => (
                      <p key={line} className={styles.detail}>
                        {line}
                      </p>
                    ))}
                  </li>
                ))}
              </ol>
            </section>
            {timeline.deliveries.length > 0 && (
              <table className={styles.table}>
                <caption className={styles.caption}>{t('traceDeliveries')}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t('traceTo')}</th>
                    <th scope="col">{t('traceState')}</th>
                    <th scope="col" className={styles.wideOnly}>
                      {t('traceAttempts')}
                    </th>
                    <th scope="col" className={styles.wideOnly}>
                      {t('traceReply')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {timeline.deliveries.map((d) => (
                    <tr key={d.recipient}>
                      <td>
                        {d.recipient}
                        <span className={`${styles.narrowOnly} ${styles.secondary}`}>{d.lastReply ?? ''}</span>
                      </td>
                      <td>{d.status}</td>
                      <td className={styles.wideOnly}>{d.attempts}</td>
                      <td className={styles.wideOnly}>{d.lastReply ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </div>
    );
  }

  return (
    <div className={page.stack}>
      <PageTitle>{t('traceTitle')}</PageTitle>
      <form className={styles.form} onSubmit={submit} aria-label={t('traceSearch')}>
        <Field label={t('traceSender')}>
          <Input value={filters.sender} onChange={set('sender')} placeholder="name@example.com, example.com" />
        </Field>
        <Field label={t('traceRecipient')}>
          <Input value={filters.recipient} onChange={set('recipient')} />
        </Field>
        <Field label="Message-ID">
          <Input value={filters.messageId} onChange={set('messageId')} />
        </Field>
        <Field label={t('traceSince')}>
          <Input type="datetime-local" value={filters.from} onChange={set('from')} />
        </Field>
        <Field label={t('traceUntil')}>
          <Input type="datetime-local" value={filters.to} onChange={set('to')} />
        </Field>
        <Field label={t('traceDirection')}>
          <Select value={filters.direction} onChange={set('direction')}>
            <option value="">{t('traceAny')}</option>
            {DIRECTIONS.map((d) => (
              <option key={d} value={d}>
                {label(`traceDirection_${d}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t('traceState')}>
          <Select value={filters.state} onChange={set('state')}>
            <option value="">{t('traceAny')}</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {label(`traceState_${s}`)}
              </option>
            ))}
          </Select>
        </Field>
        <Field label={t('traceVerdict')}>
          <Select value={filters.verdict} onChange={set('verdict')}>
            <option value="">{t('traceAny')}</option>
            {VERDICTS.map((v) => (
              <option key={v} value={v}>
                {label(`action_${v}`)}
              </option>
            ))}
          </Select>
        </Field>
        <div className={styles.actions}>
          <Button appearance="primary" type="submit" disabled={busy}>
            {t('traceSearchButton')}
          </Button>
          <Button
            onClick={() => {
              setFilters(EMPTY);
              void run(EMPTY);
            }}
          >
            {t('traceClear')}
          </Button>
        </div>
      </form>
      {failure && <Notice intent="error">{failure}</Notice>}
      {hits === undefined && !failure && <Spinner label={t('loading')} />}
      {hits !== undefined && hits.length === 0 && <Notice intent="info">{t('traceNone')}</Notice>}
      {hits !== undefined && hits.length > 0 && (
        <table className={styles.table}>
          <caption className={styles.caption}>{t('traceResults', { count: hits.length })}</caption>
          <thead>
            <tr>
              <th scope="col">{t('traceReceived')}</th>
              <th scope="col">{t('traceFrom')}</th>
              <th scope="col" className={styles.wideOnly}>
                {t('traceTo')}
              </th>
              <th scope="col" className={styles.wideOnly}>
                {t('traceState')}
              </th>
              <th scope="col" className={styles.wideOnly}>
                {t('traceVerdict')}
              </th>
            </tr>
          </thead>
          <tbody>
            {hits.map((hit) => (
              <tr key={hit.id}>
                <td className={styles.nowrap}>
                  <Button
                    appearance="transparent"
                    size="small"
                    className={styles.rowButton}
                    aria-label={t('traceOpen', { from: hit.mailFrom || '<>', when: formatDate(hit.receivedAt) })}
                    onClick={() => navigate(`/portal/admin/messages?message=${encodeURIComponent(hit.id)}`)}
                  >
                    {formatDate(hit.receivedAt)}
                  </Button>
                </td>
                <td>
                  {hit.mailFrom || '<>'}
                  <span className={`${styles.narrowOnly} ${styles.secondary}`}>
                    → {hit.recipients.join(', ')} · {label(`traceState_${hit.state}`)}
                  </span>
                </td>
                <td className={styles.wideOnly}>{hit.recipients.join(', ')}</td>
                <td className={styles.wideOnly}>{label(`traceState_${hit.state}`)}</td>
                <td className={styles.wideOnly}>{hit.verdict ? `${label(`action_${hit.verdict}`)}${hit.score !== undefined ? ` (${hit.score})` : ''}` : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <Button disabled={busy} onClick={() => void run(filters, next)}>
          {t('traceMore')}
        </Button>
      )}
    </div>
  );
}
