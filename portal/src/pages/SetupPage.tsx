/**
 * For owners and operators: the walk-through that connects Outlook and Exchange to this gateway —
 * the add-in's Entra registration and manifest, the PowerShell script and the DNS records for the
 * gateway's addresses (GET /api/portal/admin/setup/*), a test message, and publishing MX last.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import {
  Body1,
  Button,
  Field,
  Input,
  Link,
  Radio,
  RadioGroup,
  Spinner,
  Table,
  TableBody,
  TableCell,
  TableHeader,
  TableHeaderCell,
  TableRow,
  Textarea,
  Subtitle1,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { ApiProblem, api } from '../api.ts';
import { useI18n, type Translate } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { followInApp } from '../router.ts';
import { isAdminRole, useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

type Platform = 'exchange-online' | 'exchange-onprem';

/** One record of GET /api/portal/admin/setup/dns-records (backend/src/deployment/exchange-setup.ts). */
interface DnsRecord {
  type: string;
  name: string;
  value: string;
  priority?: number;
  ttl: number;
  purpose: string;
}

interface DnsRecordList {
  records: DnsRecord[];
  zone: string;
}

/** What was last prepared: the addresses and platform the script link and the records belong to. */
interface Prepared {
  ips: string[];
  platform: Platform;
  /** The gateway's public host name when the configured one is not what Exchange should use; '' for that one. */
  host: string;
}

/** Which field a refusal of the setup is about, from the problem document's type. */
type SetupFailure = { field: 'ips' | 'host' | 'other'; text: string };

const useStyles = makeStyles({
  steps: { listStyleType: 'none', padding: 0, margin: 0, display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXL, alignSelf: 'stretch' },
  step: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignItems: 'flex-start', minWidth: 0 },
  paragraph: { margin: 0, overflowWrap: 'anywhere' },
  code: {
    alignSelf: 'stretch',
    margin: 0,
    padding: tokens.spacingHorizontalM,
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase200,
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
    borderRadius: tokens.borderRadiusMedium,
    backgroundColor: tokens.colorNeutralBackground3,
    color: tokens.colorNeutralForeground1,
  },
  inline: { fontFamily: tokens.fontFamilyMonospace, overflowWrap: 'anywhere' },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalM, alignSelf: 'stretch', maxWidth: '560px' },
  table: { alignSelf: 'stretch' },
  value: { fontFamily: tokens.fontFamilyMonospace, overflowWrap: 'anywhere' },
  zone: { alignSelf: 'stretch' },
  zoneText: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase200 },
});

/** Splits the field's text into addresses: commas or white space between them. */
function addressesOf(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((ip) => ip.trim())
    .filter(Boolean);
}

function setupQuery(prepared: Prepared): string {
  const host = prepared.host.trim() ? `&gatewayHost=${encodeURIComponent(prepared.host.trim())}` : '';
  return `gatewayIps=${encodeURIComponent(prepared.ips.join(','))}&platform=${prepared.platform}${host}`;
}

/** The purpose of a record in the reader's language; the server's English sentence for any other kind. */
function purposeOf(record: DnsRecord, t: Translate): string {
  const domain = record.name.replace(/\.$/, '');
  if (record.type === 'MX') return t('setupPurposeMx', { domain });
  if (record.type === 'TXT' && record.value.startsWith('v=spf1')) return t('setupPurposeSpf', { domain });
  return record.purpose;
}

/** A step of the walk-through: a numbered heading and its content. */
function Step({ number, title, children }: { number: number; title: string; children: ReactNode }) {
  const { t } = useI18n();
  const styles = useStyles();
  const headingId = `setup-step-${number}`;
  return (
    <li>
      <section aria-labelledby={headingId} className={styles.step}>
        <Subtitle1 as="h2" id={headingId}>
          {t('setupStep', { number, title })}
        </Subtitle1>
        {children}
      </section>
    </li>
  );
}

function Paragraph({ children }: { children: ReactNode }) {
  const styles = useStyles();
  return (
    <Body1 as="p" className={styles.paragraph}>
      {children}
    </Body1>
  );
}

/** A sentence with {placeholders} filled by elements (code, links) instead of plain text. */
function withParts(text: string, parts: Record<string, ReactNode>): ReactNode[] {
  return text.split(/(\{\w+\})/).map((piece, index) => {
    const name = /^\{(\w+)\}$/.exec(piece)?.[1];
    return name && name in parts ? <span key={index}>{parts[name]}</span> : piece;
  });
}

function EntraStep() {
  const { t } = useI18n();
  const styles = useStyles();
  const host = window.location.host;
  const code = (text: string) => <code className={styles.inline}>{text}</code>;
  const tenantFile = [
    '    entra:',
    '      applicationId: <application id>   # the application (client) id',
    '      tenantIds: [<directory (tenant) id>]   # the Entra tenants whose users may sign in',
  ].join('\n');
  return (
    <Step number={1} title={t('setupEntraTitle')}>
      <Paragraph>{t('setupEntraRegister')}</Paragraph>
      <Paragraph>{withParts(t('setupEntraApi'), { uri: code(`api://${host}/<application id>`), scope: code('access_as_user') })}</Paragraph>
      <Paragraph>{withParts(t('setupEntraRedirect'), { uri: code(`brk-multihub://${host}`) })}</Paragraph>
      <Paragraph>{t('setupEntraTenantFile')}</Paragraph>
      <pre className={styles.code} aria-label={t('setupEntraTenantFileLabel')}>
        {tenantFile}
      </pre>
      <Paragraph>{t('setupEntraPublicUrl')}</Paragraph>
    </Step>
  );
}

function ManifestStep() {
  const { t } = useI18n();
  return (
    <Step number={2} title={t('setupManifestTitle')}>
      <Paragraph>{t('setupManifestBody')}</Paragraph>
      <Link href="/addin/manifest.xml" download="manifest.xml">
        {t('setupManifestDownload')}
      </Link>
      <Paragraph>{t('setupManifestUpload')}</Paragraph>
    </Step>
  );
}

function ConnectStep({
  prepared,
  preparing,
  onPrepare,
  onPlatform,
  onEdited,
  failure,
}: {
  prepared: Prepared | undefined;
  preparing: boolean;
  onPrepare: (ips: string[], platform: Platform, host: string) => void;
  onPlatform: (platform: Platform) => void;
  onEdited: () => void;
  failure: SetupFailure | undefined;
}) {
  const { t } = useI18n();
  const styles = useStyles();
  const [text, setText] = useState(prepared?.ips.join(', ') ?? '');
  const [host, setHost] = useState(prepared?.host ?? '');
  const [platform, setPlatform] = useState<Platform>(prepared?.platform ?? 'exchange-online');
  const [missing, setMissing] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const ips = addressesOf(text);
    setMissing(ips.length === 0);
    if (ips.length > 0) onPrepare(ips, platform, host);
  };

  const scriptFile = platform === 'exchange-online' ? 'exchange-online.ps1' : 'exchange-onprem.ps1';
  const scriptHref = prepared ? `/api/portal/admin/setup/${scriptFile}?${setupQuery(prepared)}` : undefined;
  const commands = platform === 'exchange-online' ? 'Connect-ExchangeOnline\n.\\connect-sealpost.ps1' : '.\\connect-sealpost.ps1';
  const code = (text: string) => <code className={styles.inline}>{text}</code>;

  return (
    <Step number={3} title={t('setupConnectTitle')}>
      <Paragraph>{t('setupConnectBody')}</Paragraph>
      <form className={styles.form} onSubmit={submit} noValidate>
        <Field
          label={t('setupIpsLabel')}
          hint={t('setupIpsHint')}
          required
          validationState={missing || (failure && failure.field !== 'host') ? 'error' : 'none'}
          validationMessage={missing ? t('setupIpsMissing') : failure && failure.field !== 'host' ? failure.text : undefined}
        >
          <Input
            value={text}
            onChange={(_, data) => {
              setText(data.value);
              onEdited();
            }}
          />
        </Field>
        <Field
          label={t('setupHostLabel')}
          hint={t('setupHostHint')}
          validationState={failure?.field === 'host' ? 'error' : 'none'}
          validationMessage={failure?.field === 'host' ? failure.text : undefined}
        >
          <Input
            value={host}
            placeholder="mail.example.com"
            onChange={(_, data) => {
              setHost(data.value);
              onEdited();
            }}
          />
        </Field>
        <Field label={t('setupPlatformLabel')}>
          <RadioGroup
            value={platform}
            onChange={(_, data) => {
              const next = data.value as Platform;
              setPlatform(next);
              onPlatform(next);
            }}
          >
            <Radio value="exchange-online" label={t('setupPlatformOnline')} />
            <Radio value="exchange-onprem" label={t('setupPlatformOnprem')} />
          </RadioGroup>
        </Field>
        <div>
          <Button type="submit" appearance="primary" disabled={preparing}>
            {preparing ? t('setupPreparing') : t('setupPrepare')}
          </Button>
        </div>
      </form>
      {scriptHref && !preparing && (
        <Link href={scriptHref} download="connect-sealpost.ps1">
          {t('setupScriptDownload')}
        </Link>
      )}
      <Paragraph>{platform === 'exchange-online' ? t('setupRunOnline') : t('setupRunOnprem')}</Paragraph>
      <pre className={styles.code} aria-label={t('setupRunCommands')}>
        {commands}
      </pre>
      <Paragraph>{withParts(t('setupRunRules'), { header: code('X-Sealpost-<domain>'), flag: code('X-Sealpost-Flag: YES') })}</Paragraph>
    </Step>
  );
}

function DnsStep({ records, preparing }: { records: DnsRecordList | undefined; preparing: boolean }) {
  const { t } = useI18n();
  const styles = useStyles();
  const [copied, setCopied] = useState<'copied' | 'failed' | undefined>();
  useEffect(() => setCopied(undefined), [records]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(records?.zone ?? '');
      setCopied('copied');
    } catch {
      setCopied('failed');
    }
  };

  return (
    <Step number={4} title={t('setupDnsTitle')}>
      {preparing && <Spinner label={t('loading')} />}
      {!records && !preparing && <Paragraph>{t('setupDnsWaiting')}</Paragraph>}
      {records && !preparing && (
        <>
          <Paragraph>{t('setupDnsBody')}</Paragraph>
          <Table className={styles.table} aria-label={t('setupDnsTable')}>
            <TableHeader>
              <TableRow>
                <TableHeaderCell scope="col">{t('setupColType')}</TableHeaderCell>
                <TableHeaderCell scope="col">{t('setupColName')}</TableHeaderCell>
                <TableHeaderCell scope="col">{t('setupColValue')}</TableHeaderCell>
                <TableHeaderCell scope="col">{t('setupColPriority')}</TableHeaderCell>
                <TableHeaderCell scope="col">{t('setupColTtl')}</TableHeaderCell>
                <TableHeaderCell scope="col">{t('setupColPurpose')}</TableHeaderCell>
              </TableRow>
            </TableHeader>
            <TableBody>
              {records.records.map((record) => (
                <TableRow key={`${record.type} ${record.name} ${record.value}`}>
                  <TableCell>{record.type}</TableCell>
                  <TableCell className={styles.value}>{record.name}</TableCell>
                  <TableCell className={styles.value}>{record.value}</TableCell>
                  <TableCell>{record.priority ?? '—'}</TableCell>
                  <TableCell>{record.ttl}</TableCell>
                  <TableCell>{purposeOf(record, t)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          <Field label={t('setupZoneLabel')} className={styles.zone}>
            <Textarea readOnly resize="vertical" rows={Math.min(12, records.records.length + 1)} value={records.zone} textarea={{ className: styles.zoneText }} />
          </Field>
          <Button onClick={() => void copy()}>{t('setupCopy')}</Button>
          {copied === 'copied' && <Notice intent="success">{t('setupCopied')}</Notice>}
          {copied === 'failed' && <Notice intent="warning">{t('setupCopyFailed')}</Notice>}
        </>
      )}
    </Step>
  );
}

function TestStep() {
  const { t } = useI18n();
  return (
    <Step number={5} title={t('setupTestTitle')}>
      <Paragraph>{t('setupTestSend')}</Paragraph>
      <Paragraph>{t('setupTestCheck')}</Paragraph>
      <Link href="/portal/sent" onClick={(e) => followInApp(e, '/portal/sent')}>
        {t('setupOpenSent')}
      </Link>
      <Paragraph>{t('setupTestPublish')}</Paragraph>
    </Step>
  );
}

export function SetupPage() {
  const { t } = useI18n();
  const page = usePageStyles();
  const styles = useStyles();
  const { session } = useSession();
  const admin = isAdminRole(session?.role);
  const [prepared, setPrepared] = useState<Prepared | undefined>();
  const [records, setRecords] = useState<DnsRecordList | undefined>();
  const [preparing, setPreparing] = useState(false);
  const [failure, setFailure] = useState<unknown>();

  useEffect(() => {
    if (!prepared) return;
    let live = true;
    setPreparing(true);
    setFailure(undefined);
    setRecords(undefined);
    void (async () => {
      try {
        const answer = await api.get<DnsRecordList>(`/api/portal/admin/setup/dns-records?${setupQuery(prepared)}`);
        if (!live) return;
        setRecords(answer);
        setPreparing(false);
      } catch (error) {
        if (!live) return;
        setFailure(error);
        setPreparing(false);
        setPrepared(undefined);
      }
    })();
    return () => {
      live = false;
      setPreparing(false);
    };
  }, [prepared]);

  // The server says which input it refused; the message goes next to that field, with the server's reason
  // for the host name (it names the setting to change).
  const failureText: SetupFailure | undefined =
    failure === undefined
      ? undefined
      : failure instanceof ApiProblem && failure.is('setup-gateway-ips')
        ? { field: 'ips', text: t('setupIpsRejected') }
        : failure instanceof ApiProblem && failure.is('setup-gateway-host')
          ? { field: 'host', text: t('setupHostRejected', { reason: failure.problem.detail ?? '' }) }
          : { field: 'other', text: failure instanceof ApiProblem && failure.problem.status === 400 ? (failure.problem.detail ?? problemText(failure, t)) : problemText(failure, t) };

  if (!admin) {
    return (
      <div className={page.stack}>
        <PageTitle>{t('setupTitle')}</PageTitle>
        <Notice intent="warning">{t('setupAdminsOnly')}</Notice>
      </div>
    );
  }

  return (
    <div className={page.stack}>
      <PageTitle>{t('setupTitle')}</PageTitle>
      <Body1 as="p" className={styles.paragraph}>
        {t('setupIntro')}
      </Body1>
      <ol className={styles.steps} aria-label={t('setupSteps')}>
        <EntraStep />
        <ManifestStep />
        <ConnectStep
          prepared={prepared}
          preparing={preparing}
          failure={failureText}
          onPrepare={(ips, platform, host) => setPrepared({ ips, platform, host })}
          onPlatform={(platform) => setPrepared((current) => (current ? { ...current, platform } : current))}
          onEdited={() => {
            setPrepared(undefined);
            setRecords(undefined);
            setFailure(undefined);
          }}
        />
        <DnsStep records={records} preparing={preparing} />
        <TestStep />
      </ol>
    </div>
  );
}
