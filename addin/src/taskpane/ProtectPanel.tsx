/**
 * Protection for the draft: the Secure switch, mode, expiry, options and, where a password PDF may serve,
 * how its password travels, each written to the draft's X-Sealpost-* headers at once and read back when
 * the pane reopens. Where Outlook cannot set headers
 * (below Mailbox 1.8, or a failed write) the pane offers the subject trigger instead.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Button,
  Checkbox,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  MessageBarTitle,
  Radio,
  RadioGroup,
  Switch,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import type { PdfPasswordResponse, PdfPasswordWay, RecipientPreview as Preview } from '../../../common/src/addin-api.ts';
import { matchSubjectTrigger, type SendOption } from '../../../common/src/headers.ts';
import type { MessageKey } from '../shared/i18n.ts';
import { formatDay } from '../shared/i18n.ts';
import { getInternetHeaders, getSubject, isSetSupported, setSubject } from '../shared/office.ts';
import { usePane } from './context.tsx';
import { errorLine } from './errors.ts';
import {
  PANE_HEADERS,
  choiceFromHeaders,
  defaultChoice,
  expiryBounds,
  pdfMayServe,
  validateExpiryDay,
  writeChoice,
  type ProtectionChoice,
} from './protection.ts';
import { PdfPasswordChoice } from './PdfPasswordChoice.tsx';
import { RecipientPreview } from './RecipientPreview.tsx';

const useStyles = makeStyles({
  panel: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, paddingTop: tokens.spacingVerticalS },
  group: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalXS, border: 'none', margin: 0, padding: 0 },
  legend: { fontWeight: tokens.fontWeightSemibold, paddingBottom: tokens.spacingVerticalXS },
});

const OPTION_LABELS: Record<SendOption, MessageKey> = {
  'read-receipt': 'option_readReceipt',
  'no-reply': 'option_noReply',
  otp: 'option_otp',
  sign: 'option_sign',
};

type SaveState = 'idle' | 'saving' | 'saved';

export function ProtectPanel() {
  const styles = useStyles();
  const { t, settings, language, api } = usePane();
  const headersSupported = useMemo(() => isSetSupported('Mailbox', '1.8'), []);
  const [headersUsable, setHeadersUsable] = useState(headersSupported);
  const [headerFailure, setHeaderFailure] = useState<string>();
  const [loaded, setLoaded] = useState(false);
  const [choice, setChoice] = useState<ProtectionChoice>(() => defaultChoice(settings));
  const [expiryText, setExpiryText] = useState(choice.expiryDay);
  const [save, setSave] = useState<SaveState>('idle');
  const writes = useRef<Promise<void>>(Promise.resolve());
  const bounds = useMemo(() => expiryBounds(settings), [settings]);
  const [pdfRecipients, setPdfRecipients] = useState<string[]>([]);
  // The sender-told password of this session: shown while its ticket is the one on the draft, never stored.
  const [told, setTold] = useState<PdfPasswordResponse>();
  const [fetchingPassword, setFetchingPassword] = useState(false);
  const [passwordProblem, setPasswordProblem] = useState<string>();
  const onPreviewRows = useCallback((rows: Preview[]) => setPdfRecipients(rows.filter((row) => row.method === 'pdf').map((row) => row.address)), []);

  useEffect(() => {
    if (!headersSupported) {
      setLoaded(true);
      return;
    }
    let cancelled = false;
    getInternetHeaders(PANE_HEADERS)
      .then((headers) => {
        if (cancelled) return;
        const restored = choiceFromHeaders(headers, settings);
        setChoice(restored);
        setExpiryText(restored.expiryDay);
      })
      .catch((error) => {
        if (cancelled) return;
        setHeadersUsable(false);
        setHeaderFailure(errorLine(t, error));
      })
      .finally(() => !cancelled && setLoaded(true));
    return () => {
      cancelled = true;
    };
    // Read once when the pane opens; later changes come from the pane itself.
  }, []);

  useEffect(() => {
    // Time to interactive, for the benchmark: settings loaded and the draft's state shown.
    if (loaded) performance.mark('sealpost-interactive');
  }, [loaded]);

  function apply(next: ProtectionChoice) {
    setChoice(next);
    setSave('saving');
    // Writes go one after another, so the draft always ends with the last choice.
    writes.current = writes.current
      .then(() => writeChoice(next, settings))
      .then(
        () => setSave('saved'),
        (error) => {
          setSave('idle');
          setHeadersUsable(false);
          setHeaderFailure(errorLine(t, error));
        },
      );
  }

  /** Draws a new password at the gateway and puts its ticket (never the password) on the draft. */
  async function newSenderPassword(base: ProtectionChoice) {
    setFetchingPassword(true);
    setPasswordProblem(undefined);
    try {
      const issued = await api.pdfPassword();
      setTold(issued);
      apply({ ...base, pdfPassword: 'sender', pdfPasswordTicket: issued.ticket });
    } catch (error) {
      setPasswordProblem(errorLine(t, error));
    } finally {
      setFetchingPassword(false);
    }
  }

  function choosePasswordWay(way: PdfPasswordWay) {
    setPasswordProblem(undefined);
    if (way === 'sender') {
      const next = { ...choice, pdfPassword: way };
      apply(next);
      if (!next.pdfPasswordTicket) void newSenderPassword(next);
      return;
    }
    // Another way: the ticket comes off the draft, and its password is forgotten.
    setTold(undefined);
    apply({ ...choice, pdfPassword: way, pdfPasswordTicket: undefined });
  }

  const expiryProblem = validateExpiryDay(expiryText, settings);
  const expiryMessage =
    expiryProblem === 'missing'
      ? t('expiryMissing')
      : expiryProblem === 'past'
        ? t('expiryPast')
        : expiryProblem === 'too-late'
          ? t('expiryTooLate', { latest: formatDay(language, new Date(`${bounds.max}T12:00:00Z`)), max: settings.maxExpiryDays ?? '' })
          : undefined;
  const expiryHint = bounds.max
    ? t('expiryHint', { max: settings.maxExpiryDays ?? '', latest: formatDay(language, new Date(`${bounds.max}T12:00:00Z`)) })
    : settings.defaultExpiryDays === undefined
      ? t('expiryHintOpen')
      : undefined;

  function toggleOption(option: SendOption, on: boolean) {
    const options = on ? [...choice.options, option] : choice.options.filter((o) => o !== option);
    apply({ ...choice, options: (Object.keys(OPTION_LABELS) as SendOption[]).filter((o) => options.includes(o)) });
  }

  return (
    <div className={styles.panel}>
      {headersUsable ? (
        <>
          <Switch
            label={t('secureSwitch')}
            checked={choice.secure}
            disabled={!loaded}
            data-testid="secure-switch"
            onChange={(_e, data) => apply({ ...choice, secure: data.checked })}
          />
          <Text>{choice.secure ? t('secureOn') : t('secureOff')}</Text>
          {choice.secure && (
            <>
              <Field label={t('modeLabel')}>
                <RadioGroup value={choice.mode} onChange={(_e, data) => apply({ ...choice, mode: data.value as ProtectionChoice['mode'] })}>
                  {settings.allowedModes.map((mode) => (
                    <Radio key={mode} value={mode} label={t(`mode_${mode}` as MessageKey)} />
                  ))}
                </RadioGroup>
              </Field>
              {/* With 'auto', only while the gateway would send someone a PDF (the preview says whom). */}
              {pdfMayServe(choice, settings) && (choice.mode === 'pdf' || pdfRecipients.length > 0) && (
                <PdfPasswordChoice
                  choice={choice}
                  pdfRecipients={pdfRecipients}
                  told={told}
                  fetching={fetchingPassword}
                  fetchProblem={passwordProblem}
                  onWay={choosePasswordWay}
                  onSmsNumbers={(smsNumbers) => apply({ ...choice, smsNumbers })}
                  onNewPassword={() => void newSenderPassword(choice)}
                />
              )}
              <Field
                label={t('expiryLabel')}
                hint={expiryMessage ? undefined : expiryHint}
                validationState={expiryMessage ? 'error' : 'none'}
                validationMessage={expiryMessage}
              >
                <Input
                  type="date"
                  value={expiryText}
                  min={bounds.min}
                  max={bounds.max}
                  data-testid="expiry"
                  onChange={(_e, data) => {
                    setExpiryText(data.value);
                    if (!validateExpiryDay(data.value, settings) && data.value !== choice.expiryDay) apply({ ...choice, expiryDay: data.value });
                  }}
                />
              </Field>
              <fieldset className={styles.group}>
                <legend className={styles.legend}>{t('optionsLabel')}</legend>
                {(Object.keys(OPTION_LABELS) as SendOption[]).map((option) => (
                  <Checkbox
                    key={option}
                    label={t(OPTION_LABELS[option])}
                    checked={choice.options.includes(option)}
                    onChange={(_e, data) => toggleOption(option, data.checked === true)}
                  />
                ))}
              </fieldset>
            </>
          )}
          <Text size={200} role="status" aria-live="polite">
            {save === 'saving' ? t('saving') : save === 'saved' ? t('saved') : ''}
          </Text>
        </>
      ) : (
        <SubjectTrigger trigger={settings.subjectTrigger} failure={headerFailure} />
      )}
      <RecipientPreview mode={headersUsable ? choice.mode : 'auto'} secure={headersUsable ? choice.secure : true} onRows={onPreviewRows} />
    </div>
  );
}

function SubjectTrigger({ trigger, failure }: { trigger: string; failure?: string }) {
  const { t } = usePane();
  const [triggered, setTriggered] = useState<boolean>();
  const [problem, setProblem] = useState<string>();

  useEffect(() => {
    getSubject()
      .then((subject) => setTriggered(matchSubjectTrigger(subject, [trigger]).triggered))
      .catch((error) => setProblem(t('triggerFailed', { message: errorLine(t, error) })));
  }, [trigger, t]);

  async function toggle() {
    setProblem(undefined);
    try {
      const subject = await getSubject();
      const match = matchSubjectTrigger(subject, [trigger]);
      if (match.triggered) await setSubject(match.subject);
      else await setSubject(subject.trim() ? `${trigger} ${subject.trimStart()}` : trigger);
      setTriggered(!match.triggered);
    } catch (error) {
      setProblem(t('triggerFailed', { message: errorLine(t, error) }));
    }
  }

  return (
    <>
      <MessageBar intent="warning" layout="multiline" data-testid="headers-unavailable">
        <MessageBarBody>
          <MessageBarTitle>{t('headersUnavailableTitle')}</MessageBarTitle>
          {t('headersUnavailableBody', { trigger })}
          {failure ? ` (${failure})` : ''}
        </MessageBarBody>
      </MessageBar>
      <Button appearance="primary" disabled={triggered === undefined} onClick={toggle} data-testid="subject-trigger">
        {triggered ? t('triggerRemove', { trigger }) : t('triggerAdd', { trigger })}
      </Button>
      <Text role="status" aria-live="polite">
        {triggered === undefined ? '' : triggered ? t('triggerOn', { trigger }) : t('triggerOff', { trigger })}
      </Text>
      {problem && (
        <MessageBar intent="error">
          <MessageBarBody>{problem}</MessageBarBody>
        </MessageBar>
      )}
    </>
  );
}
