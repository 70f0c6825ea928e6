/**
 * API tokens, from /api/portal/admin/tokens: owners, operators and (to read) analysts see each token's
 * name, first characters, where it comes from, who made it, its last use and expiry; owners and operators
 * make a token (shown once, in a dialog that closes only with "I have copied it") and revoke one after
 * confirming. Tokens of the tenant file are read-only here, as the server refuses to revoke them.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import {
  Button,
  Dialog,
  DialogActions,
  DialogBody,
  DialogContent,
  DialogSurface,
  DialogTitle,
  Field,
  Input,
  Spinner,
  Subtitle1,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import type { ConsoleApiToken, CreatedApiToken } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { canReadTokens, isAdminRole, useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';
import { fieldErrorsOf } from './field-errors.ts';

const TOKENS = '/api/portal/admin/tokens';

const useStyles = makeStyles({
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignSelf: 'stretch', minWidth: 0 },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, maxWidth: '480px' },
  secret: { fontFamily: tokens.fontFamilyMonospace },
});

export function TokensPage() {
  const { t, formatDate } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const allowed = canReadTokens(session?.role);
  const admin = isAdminRole(session?.role);
  const [list, setList] = useState<ConsoleApiToken[] | undefined>(undefined);
  const [notice, setNotice] = useState<{ intent: 'success' | 'error'; text: string } | undefined>(undefined);
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [created, setCreated] = useState<CreatedApiToken | undefined>(undefined);
  const [copied, setCopied] = useState<'yes' | 'failed' | undefined>(undefined);
  const [revoking, setRevoking] = useState<ConsoleApiToken | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(undefined);

  // Not dependent on the language: switching it does not fetch the list again.
  const load = useCallback(async () => {
    try {
      setList((await api.get<{ tokens: ConsoleApiToken[] }>(TOKENS)).tokens);
      setLoadError(undefined);
    } catch (error) {
      setLoadError(error);
    }
  }, []);

  useEffect(() => {
    if (allowed) void load();
  }, [allowed, load]);

  if (!allowed) return <Notice intent="error">{t('problemForbidden')}</Notice>;

  const create = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setNotice(undefined);
    try {
      // A typed number is sent as it is (the server names a wrong one); nothing typed is no expiry.
      const expiresInDays = days.trim() === '' ? null : Number(days);
      const answer = await api.post<CreatedApiToken>(TOKENS, { name, expiresInDays: Number.isNaN(expiresInDays) ? days : expiresInDays });
      setErrors({});
      setName('');
      setDays('');
      setCopied(undefined);
      setCreated(answer);
      await load();
    } catch (error) {
      const fields = fieldErrorsOf(error, t);
      setErrors(fields ?? {});
      if (!fields) setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(false);
    }
  };

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created?.token ?? '');
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };

  const closeCreated = () => {
    if (created) setNotice({ intent: 'success', text: t('tokenMade', { name: created.apiToken.name }) });
    // The token leaves the page's memory with the dialog: it is never shown again.
    setCreated(undefined);
    setCopied(undefined);
  };

  const revoke = async () => {
    const token = revoking;
    setRevoking(undefined);
    if (!token) return;
    try {
      await api.delete(`${TOKENS}/${encodeURIComponent(token.id)}`);
      // The row goes with the notice, not a round trip later.
      setList((shown) => shown?.filter((row) => row.id !== token.id));
      setNotice({ intent: 'success', text: t('tokenRevoked', { name: token.name }) });
      focusContent();
      await load();
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const lastUsed = (token: ConsoleApiToken) =>
    token.lastUsedAt ? <time dateTime={token.lastUsedAt}>{formatDate(token.lastUsedAt)}</time> : t('tokenNeverUsed');

  return (
    <div className={page.stack}>
      <PageTitle>{t('tokensTitle')}</PageTitle>
      <p className={page.muted}>{t('tokensIntro')}</p>
      {!admin && <Notice intent="info">{t('tokensReadOnly')}</Notice>}
      {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}
      {loadError !== undefined && <Notice intent="error">{problemDetail(loadError, t)}</Notice>}

      <section className={styles.section} aria-labelledby="tokens-list">
        <Subtitle1 as="h2" id="tokens-list">
          {t('tokensTable')}
        </Subtitle1>
        <p className={page.muted}>{t('tokensFileNote')}</p>
        {list === undefined ? (
          <Spinner label={t('loading')} />
        ) : list.length === 0 ? (
          <p>{t('tokensEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('tokensTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colName')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colCreated')}
                </th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colLastUsed')}
                </th>
                <th scope="col">{t('colExpires')}</th>
                {admin && <th scope="col">{t('colActions')}</th>}
              </tr>
            </thead>
            <tbody>
              {list.map((token) => (
                <tr key={token.id}>
                  <td>
                    {token.name}
                    {token.hint && <div className={`${styles.secondary} ${styles.symbol}`}>{`${token.hint}…`}</div>}
                    <div className={styles.secondary}>{t(`source_${token.source}` as MessageKey)}</div>
                    <div className={`${styles.secondary} ${styles.narrowOnly}`}>
                      {t('colLastUsed')}: {lastUsed(token)}
                    </div>
                  </td>
                  <td className={styles.wideOnly}>
                    <time dateTime={token.createdAt}>{formatDate(token.createdAt)}</time>
                    {token.createdBy && <div className={styles.secondary}>{token.createdBy}</div>}
                  </td>
                  <td className={styles.wideOnly}>{lastUsed(token)}</td>
                  <td>
                    {token.expiresAt ? <time dateTime={token.expiresAt}>{formatDate(token.expiresAt)}</time> : t('tokenNoExpiry')}
                    {token.expired && <div className={styles.secondary}>{t('tokenExpired')}</div>}
                  </td>
                  {admin && (
                    <td>
                      {token.editable ? (
                        <Button size="small" aria-label={t('tokenRevokeLabel', { name: token.name })} onClick={() => setRevoking(token)}>
                          {t('tokenRevoke')}
                        </Button>
                      ) : (
                        <span className={styles.secondary}>{t('memberFromFile')}</span>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {admin && (
        <section className={styles.section} aria-labelledby="token-create">
          <Subtitle1 as="h2" id="token-create">
            {t('tokenCreateTitle')}
          </Subtitle1>
          <form className={styles.form} onSubmit={(event) => void create(event)} noValidate>
            <Field label={t('tokenName')} required validationMessage={errors.name} validationState={errors.name ? 'error' : 'none'}>
              <Input value={name} maxLength={100} onChange={(_, data) => setName(data.value)} />
            </Field>
            <Field
              label={t('tokenExpiryDays')}
              hint={t('tokenExpiryHint')}
              validationMessage={errors.expiresInDays}
              validationState={errors.expiresInDays ? 'error' : 'none'}
            >
              <Input type="number" inputMode="numeric" min={1} max={3650} value={days} onChange={(_, data) => setDays(data.value)} />
            </Field>
            <div>
              <Button appearance="primary" type="submit" disabled={busy}>
                {t('tokenCreate')}
              </Button>
            </div>
          </form>
        </section>
      )}

      {/* Closed only by its button: the token must not vanish by a stray click before it was copied. */}
      <Dialog open={created !== undefined} modalType="alert">
        <DialogSurface>
          <DialogBody>
            <DialogTitle>{t('tokenShownTitle')}</DialogTitle>
            <DialogContent className={styles.form}>
              <p>{t('tokenShownBody')}</p>
              <Field label={t('tokenValue')}>
                <Input className={styles.secret} readOnly value={created?.token ?? ''} onFocus={(event) => event.target.select()} />
              </Field>
              {copied === 'yes' && <Notice intent="success">{t('tokenCopied')}</Notice>}
              {copied === 'failed' && <Notice intent="warning">{t('tokenCopyFailed')}</Notice>}
            </DialogContent>
            <DialogActions>
              <Button onClick={() => void copy()}>{t('tokenCopy')}</Button>
              <Button appearance="primary" onClick={closeCreated}>
                {t('tokenCopiedClose')}
              </Button>
            </DialogActions>
          </DialogBody>
        </DialogSurface>
      </Dialog>

      <ConfirmDialog
        open={revoking !== undefined}
        title={t('tokenRevokeTitle', { name: revoking?.name ?? '' })}
        body={t('tokenRevokeConfirm')}
        confirm={t('tokenRevoke')}
        onConfirm={() => void revoke()}
        onClose={() => setRevoking(undefined)}
      />
    </div>
  );
}
