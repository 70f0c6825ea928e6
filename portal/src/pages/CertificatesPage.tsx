/**
 * For owners and operators: the tenant's S/MIME certificates. Partners' certificates (search, import as
 * PEM/DER/PKCS#7/PKCS#12, download, delete; a changed certificate for an address is marked) and members'
 * keys (list, issue one from the tenant's CA, download the CA certificate for partners), through
 * /api/portal/admin/certificates and /api/portal/admin/member-keys. Every change is audited by the server.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import {
  Button,
  Field,
  Input,
  Spinner,
  Subtitle1,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { isAdminRole, useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { saveFile, sourceName } from './key-files.ts';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';

const CERTIFICATES = '/api/portal/admin/certificates';
const MEMBER_KEYS = '/api/portal/admin/member-keys';

/** One row of GET /api/portal/admin/certificates (backend/src/http/certificate-routes.ts). */
interface CertificateSummary {
  id: string;
  address: string;
  fingerprint: string;
  subject: string;
  issuer: string;
  notAfter: string;
  valid: boolean;
  source: string;
  replacesFingerprint?: string;
}

/** One row of GET /api/portal/admin/member-keys (backend/src/http/member-key-routes.ts). */
interface MemberKeySummary {
  id: string;
  address: string;
  fingerprint: string;
  issuer: string;
  notAfter: string;
  valid: boolean;
  source: string;
}

const useStyles = makeStyles({
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignSelf: 'stretch', maxWidth: '560px' },
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignSelf: 'stretch', minWidth: 0 },
});

export function CertificatesPage() {
  const { t, formatDay } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const [search, setSearch] = useState('');
  const [certificates, setCertificates] = useState<CertificateSummary[] | undefined>(undefined);
  const [keys, setKeys] = useState<MemberKeySummary[] | undefined>(undefined);
  const [notice, setNotice] = useState<{ intent: 'success' | 'error'; text: string } | undefined>(undefined);
  const [file, setFile] = useState<File | undefined>(undefined);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState<'import' | 'issue' | undefined>(undefined);
  const [issueAddress, setIssueAddress] = useState('');
  const [deleting, setDeleting] = useState<CertificateSummary | undefined>(undefined);

  const load = useCallback(async (term: string) => {
    try {
      const query = term.trim() ? `?search=${encodeURIComponent(term.trim())}` : '';
      const [list, memberKeys] = await Promise.all([
        api.get<{ certificates: CertificateSummary[] }>(`${CERTIFICATES}${query}`),
        api.get<{ keys: MemberKeySummary[] }>(MEMBER_KEYS),
      ]);
      setCertificates(list.certificates);
      setKeys(memberKeys.keys);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
      setCertificates((known) => known ?? []);
      setKeys((known) => known ?? []);
    }
  }, [t]);

  const admin = isAdminRole(session?.role);
  useEffect(() => {
    if (!admin) return undefined;
    const timer = setTimeout(() => void load(search), search ? 250 : 0);
    return () => clearTimeout(timer);
  }, [admin, load, search]);

  if (!admin) return <Notice intent="error">{t('problemForbidden')}</Notice>;

  const importFile = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setBusy('import');
    try {
      const type = /\.(p12|pfx)$/i.test(file.name) ? 'application/x-pkcs12' : /\.pem$|\.crt$/i.test(file.name) ? 'application/x-pem-file' : 'application/octet-stream';
      const answer = await api.upload<{ imported: unknown[] }>(CERTIFICATES, file, type, password ? { 'x-sealpost-password': password } : undefined);
      setNotice({ intent: 'success', text: t('certificateImported', { count: answer.imported.length }) });
      setFile(undefined);
      setPassword('');
      (document.getElementById('certificate-file') as HTMLInputElement | null)?.form?.reset();
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  const download = async (certificate: CertificateSummary) => {
    try {
      const detail = await api.get<{ pem: string }>(`${CERTIFICATES}/${certificate.id}`);
      saveFile(`${certificate.address}.pem`, detail.pem);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const remove = async () => {
    if (!deleting) return;
    const gone = deleting;
    setDeleting(undefined);
    try {
      await api.delete(`${CERTIFICATES}/${gone.id}`);
      setNotice({ intent: 'success', text: t('certificateDeleted') });
      focusContent();
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const issue = async (event: FormEvent) => {
    event.preventDefault();
    const address = issueAddress.trim();
    if (!address) return;
    setBusy('issue');
    try {
      await api.post(`${MEMBER_KEYS}/issue?address=${encodeURIComponent(address)}`);
      setNotice({ intent: 'success', text: t('memberKeyIssued', { address }) });
      setIssueAddress('');
      await load(search);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(undefined);
    }
  };

  const downloadCa = async () => {
    try {
      const response = await fetch(`${MEMBER_KEYS}/ca`, { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw new Error(response.statusText);
      saveFile('smime-ca.pem', await response.text());
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  return (
    <div className={page.stack}>
      <PageTitle>{t('certificatesTitle')}</PageTitle>
      <p className={page.muted}>{t('certificatesIntro')}</p>
      {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}

      <section className={styles.section} aria-labelledby="partner-certificates">
        <Subtitle1 as="h2" id="partner-certificates">
          {t('partnerCertificates')}
        </Subtitle1>
        <Field label={t('certificatesSearch')}>
          <Input type="search" value={search} onChange={(_, data) => setSearch(data.value)} />
        </Field>
        {certificates === undefined ? (
          <Spinner label={t('loading')} />
        ) : certificates.length === 0 ? (
          <p>{t('certificatesEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('certificatesTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colAddress')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colIssuer')}
                </th>
                <th scope="col">{t('colValidUntil')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colSource')}
                </th>
                <th scope="col">{t('colActions')}</th>
              </tr>
            </thead>
            <tbody>
              {certificates.map((certificate) => (
                <tr key={certificate.id}>
                  <td>
                    {certificate.address}
                    {certificate.replacesFingerprint && <div className={styles.secondary}>{t('certificateChanged')}</div>}
                    <div className={styles.secondary}>{certificate.fingerprint.slice(0, 16)}…</div>
                  </td>
                  <td className={styles.wideOnly}>{certificate.issuer}</td>
                  <td>
                    {formatDay(certificate.notAfter)}
                    {!certificate.valid && <div className={styles.secondary}>{t('certificateExpired')}</div>}
                  </td>
                  <td className={styles.wideOnly}>{sourceName(certificate.source, t)}</td>
                  <td>
                    <div className={page.row}>
                      <Button size="small" onClick={() => void download(certificate)} aria-label={t('certificateDownload', { address: certificate.address })}>
                        PEM
                      </Button>
                      <Button size="small" onClick={() => setDeleting(certificate)} aria-label={t('certificateDelete', { address: certificate.address })}>
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
          <Field label={{ children: t('certificateImportFile'), htmlFor: 'certificate-file' }}>
            <input id="certificate-file" type="file" accept=".pem,.crt,.cer,.der,.p7b,.p7c,.p12,.pfx" onChange={(event) => setFile(event.target.files?.[0])} />
          </Field>
          <Field label={t('certificateImportPassword')}>
            <Input type="password" value={password} onChange={(_, data) => setPassword(data.value)} autoComplete="off" />
          </Field>
          <div>
            <Button appearance="primary" type="submit" disabled={!file || busy !== undefined}>
              {busy === 'import' ? t('certificateImporting') : t('certificateImport')}
            </Button>
          </div>
        </form>
      </section>

      <section className={styles.section} aria-labelledby="member-keys">
        <Subtitle1 as="h2" id="member-keys">
          {t('memberKeys')}
        </Subtitle1>
        {keys === undefined ? (
          <Spinner label={t('loading')} />
        ) : keys.length === 0 ? (
          <p>{t('memberKeysEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('memberKeysTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colAddress')}</th>
                <th scope="col">{t('colValidUntil')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colSource')}
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.address}
                    <div className={styles.secondary}>{key.fingerprint.slice(0, 16)}…</div>
                  </td>
                  <td>
                    {formatDay(key.notAfter)}
                    {!key.valid && <div className={styles.secondary}>{t('certificateExpired')}</div>}
                  </td>
                  <td className={styles.wideOnly}>{sourceName(key.source, t)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form className={styles.form} onSubmit={(event) => void issue(event)}>
          <Field label={t('memberKeyIssueAddress')}>
            <Input type="email" value={issueAddress} onChange={(_, data) => setIssueAddress(data.value)} />
          </Field>
          <div className={page.row}>
            <Button appearance="primary" type="submit" disabled={!issueAddress.trim() || busy !== undefined}>
              {busy === 'issue' ? t('memberKeyIssuing') : t('memberKeyIssue')}
            </Button>
            <Button onClick={() => void downloadCa()}>{t('memberKeyCa')}</Button>
          </div>
        </form>
      </section>

      <ConfirmDialog
        open={deleting !== undefined}
        title={t('certificateDelete', { address: deleting?.address ?? '' })}
        body={t('certificateDeleteConfirm', { address: deleting?.address ?? '' })}
        confirm={t('deleteConfirm')}
        onConfirm={() => void remove()}
        onClose={() => setDeleting(undefined)}
      />
    </div>
  );
}
