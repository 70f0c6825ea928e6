/**
 * For owners and operators: the tenant's OpenPGP keys. Partners' keys (search, import armored or binary,
 * download, delete; a changed key for an address is marked) and members' key pairs (list, make one,
 * download the public key), through /api/portal/admin/pgp-keys and /api/portal/admin/member-pgp-keys.
 * Every change is audited by the server.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { Button, Field, Input, Spinner, Subtitle1, makeStyles, tokens } from '@fluentui/react-components';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { isAdminRole, useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';
import { saveFile, sourceName } from './key-files.ts';

const KEYS = '/api/portal/admin/pgp-keys';
const MEMBER_KEYS = '/api/portal/admin/member-pgp-keys';

/** One row of GET /api/portal/admin/pgp-keys (backend/src/http/pgp-key-routes.ts). */
interface KeySummary {
  id: string;
  address: string;
  fingerprint: string;
  algorithm: string;
  expiresAt: string | null;
  valid: boolean;
  source: string;
  replacesFingerprint?: string;
}

/** One row of GET /api/portal/admin/member-pgp-keys. */
interface MemberKeySummary {
  id: string;
  address: string;
  fingerprint: string;
  algorithm: string;
  expiresAt: string | null;
  valid: boolean;
  source: string;
  publicKey: string;
}

const useStyles = makeStyles({
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignSelf: 'stretch', maxWidth: '560px' },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignSelf: 'stretch', minWidth: 0 },
});

/** A fingerprint in groups of four, as key tools show it, shortened to what tells keys apart at a glance. */
const shortFingerprint = (fingerprint: string) => `${(fingerprint.toUpperCase().slice(-16).match(/.{4}/g) ?? []).join(' ')}`;

export function PgpKeysPage() {
  const { t, formatDay } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const [search, setSearch] = useState('');
  const [keys, setKeys] = useState<KeySummary[] | undefined>(undefined);
  const [memberKeys, setMemberKeys] = useState<MemberKeySummary[] | undefined>(undefined);
  const [notice, setNotice] = useState<{ intent: 'success' | 'error'; text: string } | undefined>(undefined);
  const [file, setFile] = useState<File | undefined>(undefined);
  const [busy, setBusy] = useState<'import' | 'generate' | undefined>(undefined);
  const [memberAddress, setMemberAddress] = useState('');
  const [deleting, setDeleting] = useState<KeySummary | undefined>(undefined);

  const load = useCallback(async (term: string) => {
    try {
      const query = term.trim() ? `?search=${encodeURIComponent(term.trim())}` : '';
      const [list, members] = await Promise.all([api.get<{ keys: KeySummary[] }>(`${KEYS}${query}`), api.get<{ keys: MemberKeySummary[] }>(MEMBER_KEYS)]);
      setKeys(list.keys);
      setMemberKeys(members.keys);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
      setKeys((known) => known ?? []);
      setMemberKeys((known) => known ?? []);
    }
  }, [t]);

  const admin = isAdminRole(session?.role);
  useEffect(() => {
    if (!admin) return undefined;
    const timer = setTimeout(() => void load(search), search ? 250 : 0);
    return () => clearTimeout(timer);
  }, [admin, load, search]);

  if (!admin) return <Notice intent="error">{t('problemForbidden')}</Notice>;

  const expiry = (expiresAt: string | null) => (expiresAt ? formatDay(expiresAt) : t('pgpNoExpiry'));

  const importFile = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setBusy('import');
    try {
      const answer = await api.upload<{ imported: unknown[] }>(KEYS, file, 'application/pgp-keys');
      setNotice({ intent: 'success', text: t('pgpImported', { count: answer.imported.length }) });
      setFile(undefined);
      (document.getElementById('pgp-key-file') as HTMLInputElement | null)?.form?.reset();
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  const download = async (key: KeySummary) => {
    try {
      const detail = await api.get<{ armored: string }>(`${KEYS}/${key.id}`);
      saveFile(`${key.address}.asc`, detail.armored, 'application/pgp-keys');
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const remove = async () => {
    if (!deleting) return;
    const gone = deleting;
    setDeleting(undefined);
    try {
      await api.delete(`${KEYS}/${gone.id}`);
      setNotice({ intent: 'success', text: t('pgpDeleted') });
      focusContent();
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const generate = async (event: FormEvent) => {
    event.preventDefault();
    const address = memberAddress.trim();
    if (!address) return;
    setBusy('generate');
    try {
      await api.post(`${MEMBER_KEYS}/generate?address=${encodeURIComponent(address)}`);
      setNotice({ intent: 'success', text: t('memberPgpGenerated', { address }) });
      setMemberAddress('');
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <div className={page.stack}>
      <PageTitle>{t('pgpTitle')}</PageTitle>
      <p className={page.muted}>{t('pgpIntro')}</p>
      {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}

      <section className={styles.section} aria-labelledby="partner-keys">
        <Subtitle1 as="h2" id="partner-keys">
          {t('partnerKeys')}
        </Subtitle1>
        <Field label={t('pgpSearch')}>
          <Input type="search" value={search} onChange={(_, data) => setSearch(data.value)} />
        </Field>
        {keys === undefined ? (
          <Spinner label={t('loading')} />
        ) : keys.length === 0 ? (
          <p>{t('pgpEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('pgpTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colAddress')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colAlgorithm')}
                </th>
                <th scope="col">{t('colExpires')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colSource')}
                </th>
                <th scope="col">{t('colActions')}</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.address}
                    {key.replacesFingerprint && <div className={styles.secondary}>{t('pgpKeyChanged')}</div>}
                    <div className={styles.secondary}>{shortFingerprint(key.fingerprint)}</div>
                  </td>
                  <td className={styles.wideOnly}>{key.algorithm}</td>
                  <td>
                    {expiry(key.expiresAt)}
                    {!key.valid && <div className={styles.secondary}>{t('certificateExpired')}</div>}
                  </td>
                  <td className={styles.wideOnly}>{sourceName(key.source, t)}</td>
                  <td>
                    <div className={page.row}>
                      <Button size="small" onClick={() => void download(key)} aria-label={t('certificateDownload', { address: key.address })}>
                        .asc
                      </Button>
                      <Button size="small" onClick={() => setDeleting(key)} aria-label={t('certificateDelete', { address: key.address })}>
                        {t('deleteConfirm')}
                      </Button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form className={styles.form} onSubmit={(event) => void importFile(event)}>
          <Field label={{ children: t('pgpImportFile'), htmlFor: 'pgp-key-file' }}>
            <input id="pgp-key-file" type="file" accept=".asc,.gpg,.pgp,.key,.txt" onChange={(event) => setFile(event.target.files?.[0])} />
          </Field>
          <div>
            <Button appearance="primary" type="submit" disabled={!file || busy !== undefined}>
              {busy === 'import' ? t('certificateImporting') : t('certificateImport')}
            </Button>
          </div>
        </form>
      </section>

      <section className={styles.section} aria-labelledby="member-pgp-keys">
        <Subtitle1 as="h2" id="member-pgp-keys">
          {t('memberPgpKeys')}
        </Subtitle1>
        {memberKeys === undefined ? (
          <Spinner label={t('loading')} />
        ) : memberKeys.length === 0 ? (
          <p>{t('memberPgpKeysEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('memberPgpKeysTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colAddress')}</th>
                <th scope="col">{t('colExpires')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colSource')}
                </th>
                <th scope="col">{t('colActions')}</th>
              </tr>
            </thead>
            <tbody>
              {memberKeys.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.address}
                    <div className={styles.secondary}>{shortFingerprint(key.fingerprint)}</div>
                  </td>
                  <td>
                    {expiry(key.expiresAt)}
                    {!key.valid && <div className={styles.secondary}>{t('certificateExpired')}</div>}
                  </td>
                  <td className={styles.wideOnly}>{sourceName(key.source, t)}</td>
                  <td>
                    <Button size="small" onClick={() => saveFile(`${key.address}.asc`, key.publicKey, 'application/pgp-keys')} aria-label={t('memberPgpPublic', { address: key.address })}>
                      .asc
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form className={styles.form} onSubmit={(event) => void generate(event)}>
          <Field label={t('memberKeyIssueAddress')}>
            <Input type="email" value={memberAddress} onChange={(_, data) => setMemberAddress(data.value)} />
          </Field>
          <div>
            <Button appearance="primary" type="submit" disabled={!memberAddress.trim() || busy !== undefined}>
              {busy === 'generate' ? t('memberPgpGenerating') : t('memberPgpGenerate')}
            </Button>
          </div>
        </form>
      </section>

      <ConfirmDialog
        open={deleting !== undefined}
        title={t('certificateDelete', { address: deleting?.address ?? '' })}
        body={t('pgpDeleteConfirm', { address: deleting?.address ?? '' })}
        confirm={t('deleteConfirm')}
        onConfirm={() => void remove()}
        onClose={() => setDeleting(undefined)}
      />
    </div>
  );
}
