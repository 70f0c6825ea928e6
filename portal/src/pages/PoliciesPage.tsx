/**
 * MailGuard's inbound policies for owners, operators, analysts and auditors: the policies in the order they
 * are tried, which modules cannot work on this gateway (country rules without a GeoIP database), and a
 * simulation of an uploaded .eml. Owners and operators also write policies as JSON — the tenant file's
 * schema, so the server's field errors name the same paths an admin writes — delete them, and try an edited
 * policy on the last days of stored mail before saving it. Policies from the tenant file are read-only here.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useId, useState } from 'react';
import {
  Body1,
  Button,
  Field,
  Input,
  Spinner,
  Subtitle1,
  Textarea,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { ApiProblem, api } from '../api.ts';
import { GUARD_API, editableSettings, type PolicyList, type ReplayResult, type SimulationResult, type StoredPolicy } from '../guard-api.ts';
import { useI18n, type Translate } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { canReadPolicies, isAdminRole, useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';
import { FindingsTable } from './QuarantinePage.tsx';

const useStyles = makeStyles({
  section: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalS,
    alignSelf: 'stretch',
    minWidth: 0,
    padding: tokens.spacingHorizontalM,
    borderRadius: tokens.borderRadiusMedium,
    boxShadow: tokens.shadow4,
    backgroundColor: tokens.colorNeutralBackground1,
  },
  editor: { alignSelf: 'stretch', '& textarea': { fontFamily: tokens.fontFamilyMonospace, minHeight: '16em' } },
  errors: { margin: 0, paddingInlineStart: tokens.spacingHorizontalL, overflowWrap: 'anywhere' },
  fields: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'flex-end' },
  list: { margin: 0, paddingInlineStart: tokens.spacingHorizontalL, overflowWrap: 'anywhere' },
});

const ACTIONS = ['deliver', 'flag', 'quarantine', 'reject'] as const;

/** A verdict's name in the reader's language; one the portal does not know yet is shown as the server names it. */
function actionName(action: string, t: Translate): string {
  return (ACTIONS as readonly string[]).includes(action) ? t(`action_${action as (typeof ACTIONS)[number]}`) : action;
}

const NEW_POLICY = { name: '', priority: 100, match: { recipients: [] as string[] }, thresholds: { flag: 6, block: 15 } };

/** "recipients: a@x, b@x · senderDomains: y" — the rules that route mail to a policy. */
function matchSummary(match: StoredPolicy['match'], none: string): string {
  const parts = Object.entries(match ?? {})
    .filter((entry): entry is [string, string[]] => Array.isArray(entry[1]) && entry[1].length > 0)
    .map(([rule, values]) => `${rule}: ${values.join(', ')}`);
  return parts.length ? parts.join(' · ') : none;
}

interface Editing {
  /** The policy being changed; undefined for a new one. */
  policy?: StoredPolicy;
  text: string;
}

function PolicyEditor({ editing, onSaved, onCancel }: { editing: Editing; onSaved: () => Promise<void>; onCancel: () => void }) {
  const { t } = useI18n();
  const page = usePageStyles();
  const styles = useStyles();
  const [text, setText] = useState(editing.text);
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [days, setDays] = useState('7');
  const [replay, setReplay] = useState<ReplayResult | undefined>();
  const [replayFailure, setReplayFailure] = useState<string | undefined>();

  /** The textarea as an object, or the reason it is not one. */
  const parsed = (): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch (error) {
      setErrors([t('policyNotJson', { detail: error instanceof Error ? error.message : '' })]);
      return undefined;
    }
    setErrors([t('policyNotObject')]);
    return undefined;
  };

  const save = async () => {
    const settings = parsed();
    if (!settings) return;
    setBusy(true);
    setErrors([]);
    try {
      if (editing.policy) await api.put(`${GUARD_API}/policies/${encodeURIComponent(editing.policy.id)}`, { ...settings, revision: editing.policy.revision });
      else await api.post(`${GUARD_API}/policies`, settings);
      await onSaved();
    } catch (error) {
      // A refused policy names every wrong field, one per line.
      const detail = problemDetail(error, t);
      setErrors(error instanceof ApiProblem && error.problem.status === 400 ? detail.split('\n').filter(Boolean) : [detail]);
    } finally {
      setBusy(false);
    }
  };

  const tryChange = async () => {
    const settings = parsed();
    if (!settings) return;
    setReplay(undefined);
    setReplayFailure(undefined);
    try {
      const body = { policy: settings, days: Math.min(90, Math.max(1, Math.round(Number(days)) || 7)), ...(editing.policy ? { id: editing.policy.id } : {}) };
      setReplay(await api.post<ReplayResult>(`${GUARD_API}/simulate/replay`, body));
    } catch (error) {
      setReplayFailure(problemDetail(error, t));
    }
  };

  const errorsId = useId();
  return (
    <section className={styles.section} aria-labelledby="policy-editor-title">
      <Subtitle1 as="h2" id="policy-editor-title" className={page.wrap}>
        {editing.policy ? t('policyEditTitle', { name: editing.policy.name }) : t('policyNewTitle')}
      </Subtitle1>
      <Body1 as="p" className={page.muted}>
        {t('policyEditorHelp')}
      </Body1>
      <Field label={t('policyJsonLabel')} className={styles.editor} validationState={errors.length ? 'error' : 'none'}>
        <Textarea value={text} onChange={(_, data) => setText(data.value)} resize="vertical" spellCheck={false} aria-describedby={errors.length ? errorsId : undefined} />
      </Field>
      {errors.length > 0 && (
        <div id={errorsId}>
          <Notice intent="error" title={t('policyRefused')}>
            <ul className={styles.errors}>
              {errors.map((line, index) => (
                <li key={index}>{line}</li>
              ))}
            </ul>
          </Notice>
        </div>
      )}
      <div className={page.row}>
        <Button appearance="primary" disabled={busy} onClick={() => void save()}>
          {t('policySave')}
        </Button>
        <Button onClick={onCancel}>{t('cancel')}</Button>
      </div>
      <div className={styles.fields}>
        <Field label={t('replayDays')}>
          <Input type="number" min={1} max={90} value={days} onChange={(_, data) => setDays(data.value)} />
        </Field>
        <Button onClick={() => void tryChange()}>{t('replayButton')}</Button>
      </div>
      {replayFailure && <Notice intent="error">{replayFailure}</Notice>}
      {replay && (
        <Notice intent="info" title={t('replayTitle', { days: replay.days })}>
          <Body1 as="p">{t('replaySummary', { considered: replay.considered, underPolicy: replay.underPolicy, changed: replay.changed })}</Body1>
          {Object.keys(replay.transitions).length > 0 && (
            <ul className={styles.list}>
              {Object.entries(replay.transitions).map(([change, count]) => (
                <li key={change}>{`${change}: ${count}`}</li>
              ))}
            </ul>
          )}
          {replay.truncated && <Body1 as="p">{t('replayTruncated')}</Body1>}
        </Notice>
      )}
    </section>
  );
}

function SimulatePanel() {
  const { t } = useI18n();
  const page = usePageStyles();
  const styles = useStyles();
  const [file, setFile] = useState<File | undefined>();
  const [recipient, setRecipient] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<SimulationResult | undefined>();
  const [failure, setFailure] = useState<string | undefined>();
  const fileId = useId();

  const simulate = async () => {
    if (!file) return;
    setBusy(true);
    setResult(undefined);
    setFailure(undefined);
    try {
      // Several recipients, separated by commas or spaces, are simulated as one SMTP transaction.
      const recipients = recipient.split(/[\s,;]+/).filter(Boolean).slice(0, 100);
      const query = recipients.length > 0 ? `?${recipients.map((r) => `rcpt=${encodeURIComponent(r)}`).join('&')}` : '';
      setResult(await api.upload<SimulationResult>(`${GUARD_API}/simulate${query}`, file, 'message/rfc822'));
    } catch (error) {
      setFailure(problemDetail(error, t));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className={styles.section} aria-labelledby="simulate-title">
      <Subtitle1 as="h2" id="simulate-title">
        {t('simulateTitle')}
      </Subtitle1>
      <Body1 as="p" className={page.muted}>
        {t('simulateHelp')}
      </Body1>
      <div className={styles.fields}>
        <Field label={{ children: t('simulateFile'), htmlFor: fileId }}>
          <input id={fileId} type="file" accept=".eml,message/rfc822" onChange={(event) => setFile(event.target.files?.[0])} />
        </Field>
        <Field label={t('simulateRecipient')}>
          <Input type="email" value={recipient} onChange={(_, data) => setRecipient(data.value)} />
        </Field>
        <Button appearance="primary" disabled={!file || busy} onClick={() => void simulate()}>
          {busy ? t('simulating') : t('simulateButton')}
        </Button>
      </div>
      {failure && <Notice intent="error">{failure}</Notice>}
      {result && (
        <div className={page.stack} role="status">
          <Body1 as="p" className={page.wrap}>
            <strong>{t('simulateVerdict', { action: actionName(result.action, t) })}</strong>
            {' · '}
            {t('simulateScore', { score: result.score, flag: result.thresholds.flag, block: result.thresholds.block })}
            {' · '}
            {t('simulatePolicy', { policy: result.policy.name })}
          </Body1>
          <Body1 as="p" className={page.wrap}>
            {result.outcome}
          </Body1>
          {result.parts && (
            <>
              <Body1 as="p">{t('simulateParts')}</Body1>
              <ul className={styles.list}>
                {result.parts.map((part) => (
                  <li key={part.recipients.join(',')}>
                    <Body1 className={page.wrap}>
                      {t('simulatePart', {
                        recipients: part.recipients.join(', '),
                        policy: part.policy.name,
                        action: actionName(part.action, t),
                        score: part.score,
                      })}
                    </Body1>
                  </li>
                ))}
              </ul>
            </>
          )}
          <FindingsTable findings={result.findings} caption={t('findingsTitle')} />
          {result.assumptions.length > 0 && (
            <>
              <Body1 as="p" className={page.muted}>
                {t('simulateAssumptions')}
              </Body1>
              <ul className={styles.list}>
                {result.assumptions.map((assumption, index) => (
                  <li key={index}>
                    <Body1>{assumption}</Body1>
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </section>
  );
}

export function PoliciesPage() {
  const { t, formatDate } = useI18n();
  const page = usePageStyles();
  const table = useTableStyles();
  const { session } = useSession();
  const writer = isAdminRole(session?.role);
  const [list, setList] = useState<PolicyList | undefined>();
  const [failure, setFailure] = useState<unknown>();
  const [editing, setEditing] = useState<Editing | undefined>();
  const [notice, setNotice] = useState<{ intent: 'success' | 'error'; text: string } | undefined>();
  /** The policy whose deletion is being confirmed. */
  const [deleting, setDeleting] = useState<StoredPolicy | undefined>();

  const load = useCallback(async () => {
    try {
      setList(await api.get<PolicyList>(`${GUARD_API}/policies`));
    } catch (error) {
      setFailure(error);
    }
  }, []);
  useEffect(() => {
    if (canReadPolicies(session?.role)) void load();
  }, [load, session?.role]);

  if (!canReadPolicies(session?.role)) {
    return (
      <div className={page.stack}>
        <PageTitle>{t('policiesTitle')}</PageTitle>
        <Notice intent="info">{t('policiesRolesOnly')}</Notice>
      </div>
    );
  }

  const remove = async (policy: StoredPolicy) => {
    setDeleting(undefined);
    try {
      await api.delete(`${GUARD_API}/policies/${encodeURIComponent(policy.id)}`);
      // The row goes with the notice, not a round trip later.
      setList((shown) => shown && { ...shown, policies: shown.policies.filter((row) => row.id !== policy.id) });
      setNotice({ intent: 'success', text: t('policyDeleted', { name: policy.name }) });
      await load();
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
    focusContent();
  };

  const saved = async () => {
    setNotice({ intent: 'success', text: t('policySaved') });
    setEditing(undefined);
    await load();
  };

  const policies = [...(list?.policies ?? [])].sort((a, b) => a.priority - b.priority);
  const status = list?.status;
  return (
    <div className={page.stack}>
      <PageTitle>{t('policiesTitle')}</PageTitle>
      <Body1 as="p" className={page.muted}>
        {t('policiesIntro')}
      </Body1>
      {failure !== undefined && <Notice intent="error">{problemDetail(failure, t)}</Notice>}
      {!list && failure === undefined && <Spinner label={t('loading')} />}
      {status && !status.countryRules.active && (
        <Notice intent="warning" title={t('countryRulesInactive')}>
          {status.countryRules.reason}
        </Notice>
      )}
      {status && !status.senderAuthentication.active && (
        <Notice intent="warning" title={t('senderAuthInactive')}>
          {status.senderAuthentication.reason}
        </Notice>
      )}
      {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}
      {list && policies.length === 0 && <Body1 as="p">{t('policiesEmpty')}</Body1>}
      {list && policies.length > 0 && (
        <table className={table.table}>
          <caption className={table.caption}>{t('policiesTable')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('colPolicy')}</th>
              <th scope="col" className={table.wideOnly}>
                {t('colMatch')}
              </th>
              <th scope="col" className={table.nowrap}>
                {t('colThresholds')}
              </th>
              <th scope="col" className={table.wideOnly}>
                {t('colSource')}
              </th>
              {writer && <th scope="col">{t('colActions')}</th>}
            </tr>
          </thead>
          <tbody>
            {policies.map((policy) => {
              const flag = policy.thresholds?.flag ?? list.defaults.thresholds.flag;
              const block = policy.thresholds?.block ?? list.defaults.thresholds.block;
              const fromFile = policy.source === 'file';
              return (
                <tr key={policy.id}>
                  <td>
                    <strong>{policy.name}</strong>
                    <span className={table.secondary}>
                      {' · '}
                      {policy.enabled ? t('policyEnabled') : t('policyDisabled')} · {t('policyPriority', { priority: policy.priority })}
                    </span>
                    <span className={`${table.narrowOnly} ${table.secondary}`}>{matchSummary(policy.match, t('matchAll'))}</span>
                  </td>
                  <td className={table.wideOnly}>{matchSummary(policy.match, t('matchAll'))}</td>
                  <td className={table.nowrap}>{t('thresholdsValue', { flag, block })}</td>
                  <td className={table.wideOnly}>
                    {fromFile ? t('sourceFile') : t('sourceAdmin', { by: policy.updatedBy ?? '—', date: formatDate(policy.updatedAt) })}
                  </td>
                  {writer && (
                    <td>
                      {fromFile ? (
                        <span className={table.secondary}>{t('policyFileReadOnly')}</span>
                      ) : (
                        <div className={page.row}>
                          <Button
                            size="small"
                            aria-label={t('policyEditNamed', { name: policy.name })}
                            onClick={() => setEditing({ policy, text: JSON.stringify(editableSettings(policy), null, 2) })}
                          >
                            {t('policyEdit')}
                          </Button>
                          <Button size="small" aria-label={t('policyDeleteNamed', { name: policy.name })} onClick={() => setDeleting(policy)}>
                            {t('deleteConfirm')}
                          </Button>
                        </div>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {writer && !editing && (
        <Button appearance="primary" onClick={() => setEditing({ text: JSON.stringify(NEW_POLICY, null, 2) })}>
          {t('policyNew')}
        </Button>
      )}
      {writer && editing && <PolicyEditor key={editing.policy?.id ?? 'new'} editing={editing} onSaved={saved} onCancel={() => setEditing(undefined)} />}
      {!writer && list && <Body1 as="p" className={page.muted}>{t('policiesReadOnly')}</Body1>}
      <SimulatePanel />
      {/* One confirmation for every row, always mounted: a dialog removed with its row while it closes would
          leave the page hidden from screen readers. */}
      <ConfirmDialog
        open={deleting !== undefined}
        title={t('policyDeleteTitle', { name: deleting?.name ?? '' })}
        body={t('policyDeleteBody')}
        confirm={t('deleteConfirm')}
        onConfirm={() => deleting && void remove(deleting)}
        onClose={() => setDeleting(undefined)}
      />
    </div>
  );
}
