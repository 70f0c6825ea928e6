/**
 * "Confirm it is you": shown instead of any page while the session must prove the recipient's second
 * factor. A recipient without one sets up an authenticator app (QR code and the key to type) or a passkey
 * and gets ten recovery codes, shown once; a recipient with one types a code, uses the passkey, or a
 * recovery code. When it is done, `onDone` lets the page the reader wanted show itself.
 */
import { useEffect, useState } from 'react';
import { Body1, Button, Checkbox, Field, Input, Spinner, Subtitle2, makeStyles, tokens } from '@fluentui/react-components';
import { startAuthentication, startRegistration, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import type { SecondFactorResult, SecondFactorStatus, TotpEnrolment } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n } from '../i18n.tsx';
import { problemText } from '../problems.ts';
import { useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';
import { saveFile } from './key-files.ts';

const useStyles = makeStyles({
  choices: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM },
  choice: { display: 'flex', flexDirection: 'column', alignItems: 'flex-start', gap: tokens.spacingVerticalXS, maxWidth: '320px' },
  qr: { width: '200px', height: '200px', backgroundColor: '#ffffff', padding: tokens.spacingHorizontalS },
  secret: { fontFamily: tokens.fontFamilyMonospace, overflowWrap: 'anywhere', letterSpacing: '0.05em' },
  codes: {
    display: 'grid',
    gridTemplateColumns: 'repeat(2, max-content)',
    columnGap: tokens.spacingHorizontalXXL,
    rowGap: tokens.spacingVerticalXS,
    margin: 0,
    paddingInlineStart: tokens.spacingHorizontalL,
    fontFamily: tokens.fontFamilyMonospace,
    fontSize: tokens.fontSizeBase400,
  },
  code: { maxWidth: '12em' },
});

type Step =
  | { kind: 'loading' }
  | { kind: 'choose' }
  | { kind: 'totp'; enrolment: TotpEnrolment }
  | { kind: 'prove' }
  | { kind: 'recovery' }
  | { kind: 'codes'; codes: string[] };

/** The key in groups of four, as authenticator apps show it. */
const grouped = (secret: string) => secret.match(/.{1,4}/g)?.join(' ') ?? secret;

function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;base64,${btoa(svg)}`;
}

/** A passkey the browser refused or the reader cancelled: the browser's reason, in its words. */
function passkeyReason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function SecondFactorPage({ onDone }: { onDone: () => void }) {
  const { t } = useI18n();
  const page = usePageStyles();
  const styles = useStyles();
  const { session, reload } = useSession();
  const [status, setStatus] = useState<SecondFactorStatus>();
  const [step, setStep] = useState<Step>({ kind: 'loading' });
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string>();
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    let live = true;
    api
      .get<SecondFactorStatus>('/api/portal/second-factor')
      .then((answer) => {
        if (!live) return;
        setStatus(answer);
        setStep(answer.canEnrol && !answer.verified ? { kind: 'choose' } : { kind: 'prove' });
      })
      .catch((error: unknown) => live && setFailure(problemText(error, t)));
    return () => {
      live = false;
    };
  }, [t]);

  const finish = async (result: SecondFactorResult) => {
    if (result.recoveryCodes?.length) {
      setStep({ kind: 'codes', codes: result.recoveryCodes });
      return;
    }
    await reload();
    onDone();
  };

  /** Runs one request of the page: busy while it runs, the reason when it fails. */
  const attempt = async (work: () => Promise<void>, describe: (error: unknown) => string = (error) => problemText(error, t)) => {
    setBusy(true);
    setFailure(undefined);
    try {
      await work();
    } catch (error) {
      setFailure(describe(error));
    } finally {
      setBusy(false);
    }
  };

  const startApp = () =>
    attempt(async () => {
      const enrolment = await api.post<TotpEnrolment>('/api/portal/second-factor/totp/start');
      setCode('');
      setStep({ kind: 'totp', enrolment });
    });

  const createPasskey = () =>
    attempt(async () => {
      const optionsJSON = await api.post<PublicKeyCredentialCreationOptionsJSON>('/api/portal/second-factor/passkey/registration-options');
      let response;
      try {
        response = await startRegistration({ optionsJSON });
      } catch (error) {
        throw new Error(t('factorPasskeyFailed', { reason: passkeyReason(error) }));
      }
      await finish(await api.post<SecondFactorResult>('/api/portal/second-factor/passkey/register', response));
    }, (error) => (error instanceof Error && error.name === 'Error' ? error.message : problemText(error, t)));

  const usePasskey = () =>
    attempt(async () => {
      const optionsJSON = await api.post<PublicKeyCredentialRequestOptionsJSON>('/api/portal/second-factor/passkey/authentication-options');
      let response;
      try {
        response = await startAuthentication({ optionsJSON });
      } catch (error) {
        throw new Error(t('factorPasskeyFailed', { reason: passkeyReason(error) }));
      }
      await finish(await api.post<SecondFactorResult>('/api/portal/second-factor/passkey/authenticate', response));
    }, (error) => (error instanceof Error && error.name === 'Error' ? error.message : problemText(error, t)));

  const submitCode = (path: 'totp/confirm' | 'totp/verify' | 'recovery') =>
    attempt(async () => {
      await finish(await api.post<SecondFactorResult>(`/api/portal/second-factor/${path}`, { code }));
    });

  const codeForm = (label: string, path: 'totp/confirm' | 'totp/verify' | 'recovery', numeric: boolean) => (
    <form
      className={page.stack}
      onSubmit={(event) => {
        event.preventDefault();
        void submitCode(path);
      }}
    >
      <Field label={label} validationMessage={failure} validationState={failure ? 'error' : 'none'}>
        <Input
          className={styles.code}
          value={code}
          onChange={(_, data) => setCode(data.value)}
          autoComplete="one-time-code"
          inputMode={numeric ? 'numeric' : 'text'}
          maxLength={numeric ? 7 : 20}
          required
        />
      </Field>
      <Button appearance="primary" type="submit" disabled={busy || !code.trim()}>
        {busy ? t('factorChecking') : t('factorConfirm')}
      </Button>
    </form>
  );

  if (step.kind === 'loading') {
    return failure ? <Notice intent="error">{failure}</Notice> : <Spinner label={t('loading')} />;
  }

  if (step.kind === 'codes') {
    return (
      <div className={page.stack}>
        <PageTitle>{t('factorCodesTitle')}</PageTitle>
        <Body1 as="p">{t('factorCodesBody')}</Body1>
        <ol className={styles.codes} aria-label={t('factorCodesTitle')}>
          {step.codes.map((c) => (
            <li key={c}>{c}</li>
          ))}
        </ol>
        <Button onClick={() => saveFile(`recovery-codes-${session?.address ?? 'portal'}.txt`, `${step.codes.join('\n')}\n`, 'text/plain')}>
          {t('factorCodesDownload')}
        </Button>
        <Checkbox checked={saved} onChange={(_, data) => setSaved(data.checked === true)} label={t('factorCodesSaved')} />
        <Button
          appearance="primary"
          disabled={!saved}
          onClick={() =>
            void attempt(async () => {
              await reload();
              onDone();
            })
          }
        >
          {t('factorContinue')}
        </Button>
      </div>
    );
  }

  if (step.kind === 'choose') {
    return (
      <div className={page.stack}>
        <PageTitle>{t('factorSetUpTitle')}</PageTitle>
        <Body1 as="p">{t('factorSetUpBody', { tenant: session?.tenantName || t('productName') })}</Body1>
        <div className={styles.choices}>
          <div className={styles.choice}>
            <Button appearance="primary" disabled={busy} onClick={() => void startApp()}>
              {t('factorChooseApp')}
            </Button>
            <Body1 className={page.muted}>{t('factorChooseAppHint')}</Body1>
          </div>
          <div className={styles.choice}>
            <Button disabled={busy} onClick={() => void createPasskey()}>
              {t('factorCreatePasskey')}
            </Button>
            <Body1 className={page.muted}>{t('factorChoosePasskeyHint')}</Body1>
          </div>
        </div>
        {failure && <Notice intent="error">{failure}</Notice>}
      </div>
    );
  }

  if (step.kind === 'totp') {
    return (
      <div className={page.stack}>
        <PageTitle>{t('factorChooseApp')}</PageTitle>
        <Body1 as="p">{t('factorScan')}</Body1>
        <img className={styles.qr} src={svgDataUrl(step.enrolment.qrSvg)} alt={t('factorQrAlt')} />
        <Subtitle2 as="h2">{t('factorSecretLabel')}</Subtitle2>
        <Body1 className={styles.secret} data-testid="totp-secret">
          {grouped(step.enrolment.secret)}
        </Body1>
        {codeForm(t('factorCode'), 'totp/confirm', true)}
        <Button appearance="subtle" onClick={() => setStep({ kind: 'choose' })}>
          {t('factorBack')}
        </Button>
      </div>
    );
  }

  // Proving a factor set up before, or a recovery code.
  return (
    <div className={page.stack}>
      <PageTitle>{t('factorTitle')}</PageTitle>
      <Body1 as="p">{t('factorProveBody', { address: session?.address ?? '' })}</Body1>
      {step.kind === 'prove' && status?.totp && codeForm(t('factorCode'), 'totp/verify', true)}
      {step.kind === 'prove' && (status?.passkeys ?? 0) > 0 && (
        <Button appearance={status?.totp ? 'secondary' : 'primary'} disabled={busy} onClick={() => void usePasskey()}>
          {t('factorUsePasskey')}
        </Button>
      )}
      {step.kind === 'prove' && !status?.totp && failure && <Notice intent="error">{failure}</Notice>}
      {step.kind === 'recovery' && codeForm(t('factorRecoveryCode'), 'recovery', false)}
      {step.kind === 'prove' ? (
        <Button
          appearance="subtle"
          onClick={() => {
            setCode('');
            setFailure(undefined);
            setStep({ kind: 'recovery' });
          }}
        >
          {t('factorUseRecovery')}
        </Button>
      ) : (
        <Button appearance="subtle" onClick={() => setStep({ kind: 'prove' })}>
          {t('factorBack')}
        </Button>
      )}
      <Body1 as="p" className={page.muted}>
        {t('factorLost')}
      </Body1>
    </div>
  );
}
