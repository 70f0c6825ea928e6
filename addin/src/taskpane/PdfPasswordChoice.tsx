/**
 * How a password PDF's password reaches the recipients, offered where the chosen protection may end in a
 * PDF and only in the ways the tenant allows: through the portal, by SMS to the numbers the sender gives
 * (checked as E.164 before they go on the draft), or told by the sender. For the last, the gateway draws
 * the password; the pane shows it once and puts only its sealed ticket on the draft, because the draft's
 * headers stay in the sender's Sent Items.
 */
import { useState } from 'react';
import {
  Button,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  MessageBarTitle,
  Radio,
  RadioGroup,
  Spinner,
  Text,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import { CopyRegular } from '@fluentui/react-icons';
import type { PdfPasswordResponse, PdfPasswordWay } from '../../../common/src/addin-api.ts';
import { e164Number } from '../../../common/src/headers.ts';
import { formatDay, type MessageKey } from '../shared/i18n.ts';
import { usePane } from './context.tsx';
import type { ProtectionChoice } from './protection.ts';

const useStyles = makeStyles({
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS },
  password: { fontFamily: tokens.fontFamilyMonospace, fontSize: tokens.fontSizeBase400, letterSpacing: '0.05em' },
  copyRow: { display: 'flex', alignItems: 'center', gap: tokens.spacingHorizontalS, flexWrap: 'wrap' },
});

export interface PdfPasswordChoiceProps {
  choice: ProtectionChoice;
  /** Recipients the gateway would send a PDF (from the preview). */
  pdfRecipients: string[];
  /** The password the pane fetched in this session, shown while its ticket is the draft's. */
  told?: PdfPasswordResponse;
  fetching: boolean;
  fetchProblem?: string;
  onWay(way: PdfPasswordWay): void;
  onSmsNumbers(numbers: Record<string, string>): void;
  onNewPassword(): void;
}

export function PdfPasswordChoice(props: PdfPasswordChoiceProps) {
  const styles = useStyles();
  const { t, settings } = usePane();
  const ways = settings.pdfPassword?.ways ?? [];
  const { choice } = props;
  return (
    <div className={styles.section} data-testid="pdf-password">
      <Field label={t('pdfPasswordLabel')}>
        <RadioGroup value={choice.pdfPassword} onChange={(_e, data) => props.onWay(data.value as PdfPasswordWay)}>
          {ways.map((way) => (
            <Radio key={way} value={way} label={t(`pdfPassword_${way}` as MessageKey)} />
          ))}
        </RadioGroup>
      </Field>
      {choice.pdfPassword === 'sms' && <SmsNumbers recipients={props.pdfRecipients} numbers={choice.smsNumbers} onChange={props.onSmsNumbers} />}
      {choice.pdfPassword === 'sender' && <SenderPassword {...props} />}
    </div>
  );
}

function SmsNumbers({ recipients, numbers, onChange }: { recipients: string[]; numbers: Record<string, string>; onChange(numbers: Record<string, string>): void }) {
  const { t } = usePane();
  // What the sender typed, by address; only numbers that are E.164 go on the draft.
  const [typed, setTyped] = useState<Record<string, string>>(() => ({ ...numbers }));
  const [left, setLeft] = useState<Set<string>>(() => new Set());
  if (recipients.length === 0) return <Text>{t('smsNoRecipients')}</Text>;

  function change(address: string, text: string) {
    setTyped((current) => ({ ...current, [address]: text }));
    const number = e164Number(text);
    const next = { ...numbers };
    if (number) next[address] = number;
    else delete next[address];
    if (next[address] !== numbers[address]) onChange(next);
  }

  return (
    <>
      {recipients.map((address) => {
        const text = typed[address] ?? '';
        const invalid = left.has(address) && text.trim() !== '' && !e164Number(text);
        return (
          <Field
            key={address}
            label={t('smsNumberLabel', { address })}
            hint={invalid ? undefined : t('smsNumberHint')}
            validationState={invalid ? 'error' : 'none'}
            validationMessage={invalid ? t('smsNumberInvalid') : undefined}
          >
            <Input
              type="tel"
              inputMode="tel"
              autoComplete="off"
              maxLength={32}
              value={text}
              data-sms-recipient={address}
              onChange={(_e, data) => change(address, data.value)}
              onBlur={() => setLeft((current) => new Set(current).add(address))}
            />
          </Field>
        );
      })}
    </>
  );
}

function SenderPassword({ choice, told, fetching, fetchProblem, onNewPassword }: PdfPasswordChoiceProps) {
  const styles = useStyles();
  const { t, language } = usePane();
  const [copy, setCopy] = useState<'copied' | 'failed'>();
  const shown = told && told.ticket === choice.pdfPasswordTicket ? told : undefined;

  async function copyPassword(password: string) {
    try {
      await navigator.clipboard.writeText(password);
      setCopy('copied');
    } catch {
      setCopy('failed');
    }
  }

  if (fetching) return <Spinner size="tiny" label={t('senderPasswordFetching')} />;
  return (
    <>
      {fetchProblem && (
        <MessageBar intent="error" layout="multiline" role="alert">
          <MessageBarBody>{t('senderPasswordFailed', { message: fetchProblem })}</MessageBarBody>
        </MessageBar>
      )}
      {shown ? (
        <>
          <MessageBar intent="warning" layout="multiline" data-testid="sender-password-notice">
            <MessageBarBody>
              <MessageBarTitle>{t('senderPasswordTitle')}</MessageBarTitle>
              {t('senderPasswordBody')}
            </MessageBarBody>
          </MessageBar>
          <Field label={t('senderPasswordField')} hint={t('senderPasswordValid', { date: formatDay(language, new Date(shown.expiresAt)) })}>
            <Input readOnly value={shown.password} input={{ className: styles.password }} data-testid="sender-password" onFocus={(e) => e.currentTarget.select()} />
          </Field>
          <div className={styles.copyRow}>
            <Button icon={<CopyRegular />} onClick={() => void copyPassword(shown.password)}>
              {t('copyPassword')}
            </Button>
            <Text role="status" aria-live="polite">
              {copy === 'copied' ? t('copied') : copy === 'failed' ? t('copyFailed') : ''}
            </Text>
          </div>
        </>
      ) : (
        choice.pdfPasswordTicket && <Text>{t('senderPasswordSet')}</Text>
      )}
      {!shown && (
        <Button onClick={onNewPassword} data-testid="sender-password-new">
          {t('senderPasswordNew')}
        </Button>
      )}
    </>
  );
}
