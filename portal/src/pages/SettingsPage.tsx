/**
 * The portal's settings for the organisation (GET/PATCH /api/portal/admin/settings): storage, keeping and
 * expiry, links and sessions, recipients' second factor, digests, the notification's templates with a
 * preview filled the way the gateway fills them, and what replies may carry. Owners and operators change
 * them; analysts and auditors read them. Only what was changed is sent, so a value the organisation never
 * set keeps following the product's default. The server names each wrong field; its message is shown next
 * to that field. Every change is audited by the server.
 */
// The console's strings, which this page shows, come with it.
import '../console-i18n.ts';
import { useCallback, useEffect, useId, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import {
  Button,
  Checkbox,
  Field,
  type FieldControlProps,
  Input,
  Radio,
  RadioGroup,
  Select,
  Spinner,
  Subtitle1,
  Subtitle2,
  Switch,
  Tab,
  TabList,
  Textarea,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import {
  DEFAULT_MAIL_COLOUR,
  DEFAULT_NOTIFICATION_TEMPLATES,
  mailButtonStyle,
  mailDate,
  type NotificationTemplateParts,
} from '../../../common/src/notification-templates.ts';
import { fillTemplate } from '../../../common/src/placeholders.ts';
import type { DigestInterval, PortalFieldError, PortalLanguage, PortalSettings } from '../../../common/src/portal-api.ts';
import { ApiProblem, api } from '../api.ts';
import { translations, translator, useI18n, type MessageKey, type Translate } from '../i18n.tsx';
import { messageFrameDocument } from '../message-frame.ts';
import { problemDetail } from '../problems.ts';
import { canReadSettings, isAdminRole, useSession } from '../session.tsx';
import { Notice, PageTitle, usePageStyles } from './common.tsx';

const SETTINGS = '/api/portal/admin/settings';
const LANGUAGES: PortalLanguage[] = ['en', 'de'];
const INTERVALS = ['never', 'hourly', 'daily', 'weekly'] as const;
const PARTS = ['subject', 'text', 'html'] as const;
const MB = 1024 ** 2;
const GB = 1024 ** 3;

/** GET /api/portal/admin/settings; an unset value is absent. */
type PortalSettingsView = PortalSettings;

type Unit = 'MB' | 'GB';
interface SizeDraft {
  amount: string;
  unit: Unit;
}
interface Optional<T> {
  none: boolean;
  value: T;
}
interface MemberDraft {
  key: number;
  address: string;
  size: SizeDraft;
}
type Templates = Record<PortalLanguage, NotificationTemplateParts>;

/** What the form holds: text as typed, so a half-typed number stays on screen. */
interface Draft {
  language: '' | PortalLanguage;
  tenantQuota: Optional<SizeDraft>;
  memberDefaultQuota: SizeDraft;
  members: MemberDraft[];
  retention: Optional<string>;
  defaultExpiry: Optional<string>;
  maxExpiry: Optional<string>;
  magicLink: string;
  signInLink: string;
  session: string;
  bindSessionToIp: boolean;
  secondFactor: 'on-request' | 'always';
  unlistedAsContact: boolean;
  magicLinkForAdmins: boolean;
  digestInterval: DigestInterval;
  digestLanguage: '' | PortalLanguage;
  digestTemplate: string;
  templates: Templates;
  maxAttachmentBytes: SizeDraft;
  maxAttachments: string;
  maxReplyBytes: SizeDraft;
}

/** A size as the form shows it: whole gigabytes in GB, anything else in MB. */
function sizeDraft(bytes: number | undefined): SizeDraft {
  if (bytes === undefined) return { amount: '', unit: 'GB' };
  if (bytes >= GB && bytes % GB === 0) return { amount: String(bytes / GB), unit: 'GB' };
  return { amount: String(Math.round((bytes / MB) * 100) / 100), unit: 'MB' };
}

/** Whole, non-negative numbers and decimals with a point or a comma; anything else is undefined. */
function parseNumber(text: string): number | undefined {
  const trimmed = text.trim().replace(',', '.');
  if (!/^\d{1,15}(?:\.\d{1,6})?$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

let memberKeys = 0;

function draftOf(settings: PortalSettingsView): Draft {
  const optional = (value: number | undefined): Optional<string> => ({ none: value === undefined, value: value === undefined ? '' : String(value) });
  const templates = Object.fromEntries(
    LANGUAGES.map((language) => [language, { ...DEFAULT_NOTIFICATION_TEMPLATES[language], ...stripEmpty(settings.notificationTemplates[language]) }]),
  ) as Templates;
  return {
    language: settings.language ?? '',
    tenantQuota: { none: settings.tenantQuotaBytes === undefined, value: sizeDraft(settings.tenantQuotaBytes) },
    memberDefaultQuota: sizeDraft(settings.memberDefaultQuotaBytes),
    members: Object.entries(settings.memberQuotaBytes)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([address, bytes]) => ({ key: (memberKeys += 1), address, size: sizeDraft(bytes) })),
    retention: optional(settings.retentionDays),
    defaultExpiry: optional(settings.defaultExpiryDays),
    maxExpiry: optional(settings.maxExpiryDays),
    magicLink: String(settings.magicLinkTtlMinutes),
    signInLink: String(settings.signInLinkTtlMinutes),
    session: String(settings.sessionTtlMinutes),
    bindSessionToIp: settings.bindSessionToIp,
    secondFactor: settings.secondFactor,
    unlistedAsContact: settings.unlistedAsContact,
    magicLinkForAdmins: settings.magicLinkForAdmins,
    digestInterval: settings.digestInterval,
    digestLanguage: settings.digestLanguage ?? '',
    digestTemplate: settings.digestTemplate ?? '',
    templates,
    maxAttachmentBytes: sizeDraft(settings.maxAttachmentBytes),
    maxAttachments: String(settings.maxAttachments),
    maxReplyBytes: sizeDraft(settings.maxReplyBytes),
  };
}

function stripEmpty(template: Partial<NotificationTemplateParts> | undefined): Partial<NotificationTemplateParts> {
  const out: Partial<NotificationTemplateParts> = {};
  for (const part of PARTS) if (template?.[part]) out[part] = template[part];
  return out;
}

/**
 * The change to send: only the fields whose value differs from what was loaded (a value the organisation
 * never set keeps following the product's default), or the fields the form cannot read.
 */
function changeOf(draft: Draft, loaded: PortalSettingsView, t: Translate): { change: Record<string, unknown>; errors: Record<string, string> } {
  const change: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  const need = (field: string, value: number | undefined): number | undefined => {
    if (value === undefined) errors[field] = t('settingsNeedNumber');
    return value;
  };
  const bytes = (size: SizeDraft) => {
    const amount = parseNumber(size.amount);
    return amount === undefined ? undefined : Math.round(amount * (size.unit === 'GB' ? GB : MB));
  };
  const whole = (text: string) => {
    const value = parseNumber(text);
    return value !== undefined && Number.isInteger(value) ? value : undefined;
  };
  const set = (field: keyof PortalSettingsView, value: unknown) => {
    const before = loaded[field] ?? null;
    if (JSON.stringify(before) !== JSON.stringify(value)) change[field] = value;
  };
  const optional = (field: keyof PortalSettingsView, draftValue: Optional<string>) => {
    if (draftValue.none) set(field, null);
    else {
      const value = need(field, whole(draftValue.value));
      if (value !== undefined) set(field, value);
    }
  };
  const required = (field: keyof PortalSettingsView, value: number | undefined) => {
    if (need(field, value) !== undefined) set(field, value);
  };

  set('language', draft.language || null);
  if (draft.tenantQuota.none) set('tenantQuotaBytes', null);
  else required('tenantQuotaBytes', bytes(draft.tenantQuota.value));
  required('memberDefaultQuotaBytes', bytes(draft.memberDefaultQuota));
  const members: Record<string, number> = {};
  for (const member of draft.members) {
    const address = member.address.trim();
    if (!address) {
      errors[`member:${member.key}`] = t('settingsNeedAddress');
      continue;
    }
    const size = bytes(member.size);
    if (size === undefined) errors[`memberQuotaBytes.${address}`] = t('settingsNeedNumber');
    else members[address] = size;
  }
  const sorted = (map: Record<string, number>) => JSON.stringify(Object.entries(map).sort(([a], [b]) => a.localeCompare(b)));
  if (sorted(members) !== sorted(loaded.memberQuotaBytes)) change.memberQuotaBytes = members;
  optional('retentionDays', draft.retention);
  optional('defaultExpiryDays', draft.defaultExpiry);
  optional('maxExpiryDays', draft.maxExpiry);
  required('magicLinkTtlMinutes', whole(draft.magicLink));
  required('signInLinkTtlMinutes', whole(draft.signInLink));
  required('sessionTtlMinutes', whole(draft.session));
  set('bindSessionToIp', draft.bindSessionToIp);
  set('secondFactor', draft.secondFactor);
  set('unlistedAsContact', draft.unlistedAsContact);
  set('magicLinkForAdmins', draft.magicLinkForAdmins);
  set('digestInterval', draft.digestInterval);
  set('digestLanguage', draft.digestLanguage || null);
  set('digestTemplate', draft.digestTemplate.trim() ? draft.digestTemplate : null);
  required('maxAttachmentBytes', bytes(draft.maxAttachmentBytes));
  required('maxAttachments', whole(draft.maxAttachments));
  required('maxReplyBytes', bytes(draft.maxReplyBytes));

  // Templates part by part: the product's own text (or nothing) is sent as null, so it keeps following the product.
  const templates: Record<string, Record<string, string | null>> = {};
  for (const language of LANGUAGES) {
    for (const part of PARTS) {
      const text = draft.templates[language][part];
      const wanted = text === DEFAULT_NOTIFICATION_TEMPLATES[language][part] || !text.trim() ? null : text;
      const before = loaded.notificationTemplates[language]?.[part] || null;
      if (wanted !== before) (templates[language] ??= {})[part] = wanted;
    }
  }
  if (Object.keys(templates).length) change.notificationTemplates = templates;
  return { change, errors };
}

/** The server's field error in the reader's language; a rule the portal does not know keeps the server's words. */
function fieldErrorText(error: PortalFieldError, t: Translate, formatSize: (bytes: number) => string): string {
  const key = `settingsRule_${error.rule}`;
  if (!(key in translations.en)) return error.message;
  let limit = error.limit === undefined ? '' : String(error.limit);
  // A rule that compares with another field names it with its value: "defaultExpiryDays (30)".
  const named = /^(\w+) \((\d+)\)$/.exec(limit);
  const nameKey = named ? `settingsName_${named[1]}` : '';
  if (named && nameKey in translations.en) {
    const value = Number(named[2]);
    limit = t(nameKey as MessageKey, { value: named[1]!.endsWith('Bytes') ? formatSize(value) : value });
  }
  return t(key as MessageKey, { limit });
}

const useStyles = makeStyles({
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalL, alignSelf: 'stretch', minWidth: 0 },
  section: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalM,
    alignSelf: 'stretch',
    minWidth: 0,
    padding: tokens.spacingHorizontalM,
    borderRadius: tokens.borderRadiusMedium,
    boxShadow: tokens.shadow4,
    backgroundColor: tokens.colorNeutralBackground1,
  },
  size: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, alignItems: 'center' },
  amount: { width: '10em', maxWidth: '100%' },
  unit: { width: '6em' },
  choice: { maxWidth: '100%', minWidth: 0 },
  optional: { display: 'flex', flexWrap: 'wrap', columnGap: tokens.spacingHorizontalS, alignItems: 'flex-end' },
  member: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalM, alignItems: 'flex-end' },
  address: { flexGrow: 1, minWidth: '14em', maxWidth: '100%' },
  templateText: { alignSelf: 'stretch', '& textarea': { fontFamily: tokens.fontFamilyMonospace, minHeight: '8em' } },
  preview: {
    display: 'flex',
    flexDirection: 'column',
    gap: tokens.spacingVerticalS,
    margin: 0,
    padding: tokens.spacingHorizontalS,
    border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
    borderRadius: tokens.borderRadiusMedium,
    minWidth: 0,
  },
  caption: { color: tokens.colorNeutralForeground2, fontSize: tokens.fontSizeBase200 },
  previewText: { margin: 0, whiteSpace: 'pre-wrap', overflowWrap: 'anywhere', fontFamily: tokens.fontFamilyBase, fontSize: tokens.fontSizeBase300 },
  frame: { alignSelf: 'stretch', width: '100%', height: '220px', border: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`, backgroundColor: '#ffffff' },
  actions: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignItems: 'flex-start' },
  list: { margin: 0, paddingInlineStart: tokens.spacingHorizontalL, overflowWrap: 'anywhere' },
});

function Section({ id, title, children }: { id: string; title: string; children: ReactNode }) {
  const styles = useStyles();
  return (
    <section className={styles.section} aria-labelledby={id}>
      <Subtitle1 as="h2" id={id}>
        {title}
      </Subtitle1>
      {children}
    </section>
  );
}

function SizeInputs(props: { label: string; value: SizeDraft; onChange: (value: SizeDraft) => void; readOnly: boolean; fieldProps: FieldControlProps }) {
  const styles = useStyles();
  const { t } = useI18n();
  // Its own id: inside a Field, Fluent would give every control the field's one.
  const unitId = useId();
  return (
    <div className={styles.size}>
      <Input
        {...props.fieldProps}
        className={styles.amount}
        inputMode="decimal"
        value={props.value.amount}
        readOnly={props.readOnly}
        onChange={(_, data) => props.onChange({ ...props.value, amount: data.value })}
      />
      <Select
        id={unitId}
        className={styles.unit}
        aria-label={`${props.label}: ${t('settingsSizeUnit')}`}
        value={props.value.unit}
        disabled={props.readOnly}
        onChange={(_, data) => props.onChange({ ...props.value, unit: data.value as Unit })}
      >
        <option value="MB">MB</option>
        <option value="GB">GB</option>
      </Select>
    </div>
  );
}

function SizeField(props: { label: string; value: SizeDraft; onChange: (value: SizeDraft) => void; error?: string; readOnly: boolean }) {
  return (
    <Field label={props.label} validationMessage={props.error} validationState={props.error ? 'error' : 'none'}>
      {(fieldProps) => <SizeInputs {...props} fieldProps={fieldProps} />}
    </Field>
  );
}

function DaysField(props: { label: string; noneLabel: string; value: Optional<string>; onChange: (value: Optional<string>) => void; error?: string; readOnly: boolean }) {
  const { t } = useI18n();
  const styles = useStyles();
  return (
    <OptionalField label={props.label} noneLabel={props.noneLabel} none={props.value.none} error={props.error} readOnly={props.readOnly} onNone={(none) => props.onChange({ ...props.value, none })}>
      {(fieldProps) => (
        <Input
          {...fieldProps}
          className={styles.amount}
          type="number"
          min={1}
          contentAfter={t('settingsDays')}
          value={props.value.value}
          readOnly={props.readOnly}
          onChange={(_, data) => props.onChange({ ...props.value, value: data.value })}
        />
      )}
    </OptionalField>
  );
}

/**
 * A value that may be left unset ("no expiry", "no limit"): the box says so; unticked, the value's own
 * control appears. Read-only, the box cannot be changed but stays as legible as the rest.
 */
function OptionalField(props: {
  label: string;
  noneLabel: string;
  none: boolean;
  onNone: (none: boolean) => void;
  error?: string;
  readOnly: boolean;
  children: (fieldProps: FieldControlProps) => ReactNode;
}) {
  const styles = useStyles();
  const box = (extra: Record<string, string | undefined>) => (
    <Checkbox
      {...extra}
      label={props.noneLabel}
      checked={props.none}
      aria-readonly={props.readOnly || undefined}
      onChange={(_, data) => {
        if (!props.readOnly) props.onNone(Boolean(data.checked));
      }}
    />
  );
  const field = (control: (fieldProps: FieldControlProps) => ReactNode) => (
    <Field label={props.label} validationMessage={props.error} validationState={props.error ? 'error' : 'none'}>
      {control}
    </Field>
  );
  // Unset, the box is the field's control (the field's label and message belong to it); set, the box
  // stands beside the field, out of its reach: Fluent gives every control inside a field the field's label.
  if (props.none) return field((fieldProps) => box({ id: fieldProps.id, 'aria-describedby': fieldProps['aria-describedby'] }));
  return (
    <div className={styles.optional}>
      {field(props.children)}
      {box({})}
    </div>
  );
}

/** The notification as a recipient would get it, filled with sample values the way the gateway fills it. */
function TemplatePreview({ template, language, sender, colour }: { template: NotificationTemplateParts; language: PortalLanguage; sender: string; colour: string }) {
  const styles = useStyles();
  const { t } = useI18n();
  // The sample in the template's language, whatever the portal is shown in.
  const sample = translator(language);
  const expires = useMemo(() => mailDate(new Date(Date.now() + 7 * 86_400_000), language), [language]);
  const values = {
    sender,
    subject: sample('settingsSampleSubject'),
    link: `${window.location.origin}/portal/open?token=…`,
    expires,
  };
  const html = messageFrameDocument(fillTemplate(template.html, { ...values, buttonStyle: mailButtonStyle(colour) }, true), {
    allowRemote: false,
    origin: window.location.origin,
    language,
  });
  return (
    <figure className={styles.preview} data-testid={`preview-${language}`}>
      <figcaption className={styles.caption}>{t('settingsPreview')}</figcaption>
      <p className={styles.previewText} lang={language} data-testid="preview-subject">
        {sample('settingsPreviewSubject', { subject: fillTemplate(template.subject, values, false).replace(/[\r\n]+/g, ' ') })}
      </p>
      <p className={styles.previewText} lang={language} data-testid="preview-text">
        {fillTemplate(template.text, values, false)}
      </p>
      {/* No script, no same origin: whatever the template holds cannot act in the portal. */}
      <iframe className={styles.frame} title={t('settingsHtmlPreview')} sandbox="" referrerPolicy="no-referrer" srcDoc={html} />
    </figure>
  );
}

export function SettingsPage() {
  const { t, formatSize } = useI18n();
  const page = usePageStyles();
  const styles = useStyles();
  const { session } = useSession();
  const ids = useId();
  const [loaded, setLoaded] = useState<PortalSettingsView | undefined>(undefined);
  const [draft, setDraft] = useState<Draft | undefined>(undefined);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [otherErrors, setOtherErrors] = useState<string[]>([]);
  const [notice, setNotice] = useState<{ intent: 'success' | 'error' | 'info'; text: string } | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const [templateLanguage, setTemplateLanguage] = useState<PortalLanguage>('en');
  const [newMember, setNewMember] = useState('');

  const readable = canReadSettings(session?.role);
  const readOnly = !isAdminRole(session?.role);

  const load = useCallback(async () => {
    try {
      const settings = await api.get<PortalSettingsView>(SETTINGS);
      setLoaded(settings);
      setDraft(draftOf(settings));
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  }, [t]);

  useEffect(() => {
    if (readable) void load();
  }, [readable, load]);

  if (!readable) return <Notice intent="error">{t('problemForbidden')}</Notice>;
  if (!draft || !loaded) {
    return (
      <div className={page.stack}>
        <PageTitle>{t('settingsTitle')}</PageTitle>
        {notice ? <Notice intent={notice.intent}>{notice.text}</Notice> : <Spinner label={t('loading')} />}
      </div>
    );
  }

  const update = (changes: Partial<Draft>) => setDraft({ ...draft, ...changes });
  const errorOf = (field: string) => errors[field];
  const fieldState = (field: string) => ({ validationMessage: errorOf(field), validationState: errorOf(field) ? ('error' as const) : ('none' as const) });

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setNotice(undefined);
    setOtherErrors([]);
    const { change, errors: local } = changeOf(draft, loaded, t);
    setErrors(local);
    if (Object.keys(local).length) {
      setNotice({ intent: 'error', text: t('settingsNotSaved') });
      return;
    }
    if (Object.keys(change).length === 0) {
      setNotice({ intent: 'info', text: t('settingsNothingChanged') });
      return;
    }
    setSaving(true);
    try {
      const saved = await api.patch<PortalSettingsView>(SETTINGS, change);
      setLoaded(saved);
      setDraft(draftOf(saved));
      setNotice({ intent: 'success', text: t('settingsSaved') });
    } catch (error) {
      const fieldErrors = error instanceof ApiProblem ? error.problem.errors : undefined;
      if (fieldErrors?.length) {
        const shown: Record<string, string> = {};
        const rest: string[] = [];
        for (const fieldError of fieldErrors) {
          const text = fieldErrorText(fieldError, t, formatSize);
          if (document.querySelector(`[data-field="${CSS.escape(fieldError.field)}"]`)) shown[fieldError.field] = text;
          else rest.push(fieldError.message);
        }
        setErrors(shown);
        setOtherErrors(rest);
        setNotice({ intent: 'error', text: t('settingsNotSaved') });
      } else {
        setNotice({ intent: 'error', text: problemDetail(error, t) });
      }
    } finally {
      setSaving(false);
    }
  };

  const addMember = () => {
    const address = newMember.trim();
    if (!address) return;
    update({ members: [...draft.members, { key: (memberKeys += 1), address, size: { ...draft.memberDefaultQuota } }] });
    setNewMember('');
  };

  const template = draft.templates[templateLanguage];
  const setTemplate = (part: (typeof PARTS)[number], text: string) =>
    update({ templates: { ...draft.templates, [templateLanguage]: { ...template, [part]: text } } });
  const minutes = (field: 'magicLink' | 'signInLink' | 'session', apiField: string, label: MessageKey, max: number) => (
    <div data-field={apiField}>
      <Field label={t(label)} {...fieldState(apiField)}>
        <Input type="number" min={5} max={max} className={styles.amount} value={draft[field]} readOnly={readOnly} onChange={(_, data) => update({ [field]: data.value })} />
      </Field>
    </div>
  );

  return (
    <div className={page.stack}>
      <PageTitle>{t('settingsTitle')}</PageTitle>
      <p className={page.muted}>{t('settingsIntro')}</p>
      {readOnly && <Notice intent="info">{t('settingsReadOnly')}</Notice>}

      <form className={styles.form} onSubmit={(event) => void save(event)} noValidate>
        <Section id={`${ids}-quotas`} title={t('settingsQuotas')}>
          <div data-field="tenantQuotaBytes">
            <OptionalField
              label={t('settingsTenantQuota')}
              noneLabel={t('settingsUnlimited')}
              none={draft.tenantQuota.none}
              readOnly={readOnly}
              error={errorOf('tenantQuotaBytes')}
              onNone={(none) => update({ tenantQuota: { ...draft.tenantQuota, none } })}
            >
              {(fieldProps) => (
                <SizeInputs
                  label={t('settingsTenantQuota')}
                  value={draft.tenantQuota.value}
                  readOnly={readOnly}
                  fieldProps={fieldProps}
                  onChange={(value) => update({ tenantQuota: { ...draft.tenantQuota, value } })}
                />
              )}
            </OptionalField>
          </div>
          <div data-field="memberDefaultQuotaBytes">
            <SizeField
              label={t('settingsMemberDefaultQuota')}
              value={draft.memberDefaultQuota}
              readOnly={readOnly}
              error={errorOf('memberDefaultQuotaBytes')}
              onChange={(value) => update({ memberDefaultQuota: value })}
            />
          </div>
          <Subtitle2 as="h3">{t('settingsMemberQuotas')}</Subtitle2>
          {draft.members.length === 0 && <p className={page.muted}>{t('settingsMemberQuotasEmpty')}</p>}
          {draft.members.map((member) => {
            const field = `memberQuotaBytes.${member.address.trim()}`;
            return (
              <div key={member.key} className={styles.member} data-field={field}>
                <SizeField
                  label={t('settingsMemberQuota', { address: member.address })}
                  value={member.size}
                  readOnly={readOnly}
                  error={errorOf(field) ?? errorOf(`member:${member.key}`)}
                  onChange={(size) => update({ members: draft.members.map((m) => (m.key === member.key ? { ...m, size } : m)) })}
                />
                {!readOnly && (
                  <Button onClick={() => update({ members: draft.members.filter((m) => m.key !== member.key) })}>
                    {t('settingsRemoveMember', { address: member.address })}
                  </Button>
                )}
              </div>
            );
          })}
          {!readOnly && (
            <div className={styles.member}>
              <Field label={t('settingsMemberAddress')} className={styles.address}>
                <Input
                  type="email"
                  value={newMember}
                  onChange={(_, data) => setNewMember(data.value)}
                  onKeyDown={(event) => {
                    if (event.key === 'Enter') {
                      event.preventDefault();
                      addMember();
                    }
                  }}
                />
              </Field>
              <Button onClick={addMember} disabled={!newMember.trim()}>
                {t('settingsAddMember')}
              </Button>
            </div>
          )}
        </Section>

        <Section id={`${ids}-retention`} title={t('settingsRetention')}>
          <div data-field="defaultExpiryDays">
            <DaysField
              label={t('settingsDefaultExpiry')}
              noneLabel={t('settingsNoExpiry')}
              value={draft.defaultExpiry}
              readOnly={readOnly}
              error={errorOf('defaultExpiryDays')}
              onChange={(defaultExpiry) => update({ defaultExpiry })}
            />
          </div>
          <div data-field="maxExpiryDays">
            <DaysField
              label={t('settingsMaxExpiry')}
              noneLabel={t('settingsNoMaximum')}
              value={draft.maxExpiry}
              readOnly={readOnly}
              error={errorOf('maxExpiryDays')}
              onChange={(maxExpiry) => update({ maxExpiry })}
            />
          </div>
          <div data-field="retentionDays">
            <DaysField
              label={t('settingsRetentionDays')}
              noneLabel={t('settingsKeepForever')}
              value={draft.retention}
              readOnly={readOnly}
              error={errorOf('retentionDays')}
              onChange={(retention) => update({ retention })}
            />
          </div>
        </Section>

        <Section id={`${ids}-lifetimes`} title={t('settingsLifetimes')}>
          {minutes('magicLink', 'magicLinkTtlMinutes', 'settingsMagicLink', 525_600)}
          {minutes('signInLink', 'signInLinkTtlMinutes', 'settingsSignInLink', 1440)}
          {minutes('session', 'sessionTtlMinutes', 'settingsSession', 10_080)}
          <Switch label={t('settingsBindIp')} checked={draft.bindSessionToIp} disabled={readOnly} onChange={(_, data) => update({ bindSessionToIp: data.checked })} />
          <Field label={t('settingsSecondFactor')}>
            <RadioGroup value={draft.secondFactor} disabled={readOnly} onChange={(_, data) => update({ secondFactor: data.value as Draft['secondFactor'] })}>
              <Radio value="on-request" label={t('settingsFactorOnRequest')} />
              <Radio value="always" label={t('settingsFactorAlways')} />
            </RadioGroup>
          </Field>
        </Section>

        <Section id={`${ids}-sign-in`} title={t('settingsSignIn')}>
          <div data-field="unlistedAsContact">
            <Field validationMessage={errorOf('unlistedAsContact')} hint={t('settingsUnlistedAsContactHint')}>
              <Switch
                label={t('settingsUnlistedAsContact')}
                checked={draft.unlistedAsContact}
                disabled={readOnly}
                onChange={(_, data) => update({ unlistedAsContact: data.checked })}
              />
            </Field>
          </div>
          <div data-field="magicLinkForAdmins">
            <Field validationMessage={errorOf('magicLinkForAdmins')} hint={t('settingsMagicLinkForAdminsHint')}>
              <Switch
                label={t('settingsMagicLinkForAdmins')}
                checked={draft.magicLinkForAdmins}
                disabled={readOnly}
                onChange={(_, data) => update({ magicLinkForAdmins: data.checked })}
              />
            </Field>
          </div>
        </Section>

        <Section id={`${ids}-notifications`} title={t('settingsNotifications')}>
          <Field label={t('settingsLanguage')} hint={t('settingsLanguageAutoHint')}>
            <Select className={styles.choice} value={draft.language} disabled={readOnly} onChange={(_, data) => update({ language: data.value as Draft['language'] })}>
              <option value="">{t('settingsLanguageAuto')}</option>
              <option value="en">English</option>
              <option value="de">Deutsch</option>
            </Select>
          </Field>
          <TabList selectedValue={templateLanguage} onTabSelect={(_, data) => setTemplateLanguage(data.value as PortalLanguage)} aria-label={t('settingsTemplateLanguage')}>
            <Tab value="en">English</Tab>
            <Tab value="de">Deutsch</Tab>
          </TabList>
          <p className={page.muted}>{t('settingsTemplateHint')}</p>
          {PARTS.map((part) => {
            const field = `notificationTemplates.${templateLanguage}.${part}`;
            const label = t(part === 'subject' ? 'settingsTemplateSubject' : part === 'text' ? 'settingsTemplateText' : 'settingsTemplateHtml');
            return (
              <div key={field} data-field={field} className={page.wide}>
                <Field label={`${label} (${templateLanguage === 'en' ? 'English' : 'Deutsch'})`} {...fieldState(field)}>
                  {part === 'subject' ? (
                    <Input value={template.subject} readOnly={readOnly} onChange={(_, data) => setTemplate('subject', data.value)} />
                  ) : (
                    <Textarea className={styles.templateText} value={template[part]} readOnly={readOnly} resize="vertical" spellCheck={false} onChange={(_, data) => setTemplate(part, data.value)} />
                  )}
                </Field>
              </div>
            );
          })}
          {!readOnly && (
            <div>
              <Button
                onClick={() => update({ templates: { ...draft.templates, [templateLanguage]: { ...DEFAULT_NOTIFICATION_TEMPLATES[templateLanguage] } } })}
              >
                {t('settingsTemplateReset')}
              </Button>
            </div>
          )}
          <TemplatePreview template={template} language={templateLanguage} sender={session?.address ?? ''} colour={session?.branding?.colour ?? DEFAULT_MAIL_COLOUR} />
        </Section>

        <Section id={`${ids}-digests`} title={t('settingsDigests')}>
          <Field label={t('settingsDigestInterval')}>
            <Select className={styles.choice} value={draft.digestInterval} disabled={readOnly} onChange={(_, data) => update({ digestInterval: data.value as DigestInterval })}>
              {INTERVALS.map((interval) => (
                <option key={interval} value={interval}>
                  {t(`interval_${interval}`)}
                </option>
              ))}
            </Select>
          </Field>
          <Field label={t('settingsDigestLanguage')} hint={t('settingsLanguageAutoHint')}>
            <Select className={styles.choice} value={draft.digestLanguage} disabled={readOnly} onChange={(_, data) => update({ digestLanguage: data.value as Draft['digestLanguage'] })}>
              <option value="">{t('settingsLanguageAuto')}</option>
              <option value="en">English</option>
              <option value="de">Deutsch</option>
            </Select>
          </Field>
          <div data-field="digestTemplate" className={page.wide}>
            <Field label={t('settingsDigestTemplate')} hint={t('settingsDigestTemplateHint')} {...fieldState('digestTemplate')}>
              <Textarea className={styles.templateText} value={draft.digestTemplate} readOnly={readOnly} resize="vertical" spellCheck={false} onChange={(_, data) => update({ digestTemplate: data.value })} />
            </Field>
          </div>
        </Section>

        <Section id={`${ids}-limits`} title={t('settingsLimits')}>
          <div data-field="maxAttachmentBytes">
            <SizeField
              label={t('settingsMaxAttachmentBytes')}
              value={draft.maxAttachmentBytes}
              readOnly={readOnly}
              error={errorOf('maxAttachmentBytes')}
              onChange={(maxAttachmentBytes) => update({ maxAttachmentBytes })}
            />
          </div>
          <div data-field="maxAttachments">
            <Field label={t('settingsMaxAttachments')} {...fieldState('maxAttachments')}>
              <Input type="number" min={0} max={100} className={styles.amount} value={draft.maxAttachments} readOnly={readOnly} onChange={(_, data) => update({ maxAttachments: data.value })} />
            </Field>
          </div>
          <div data-field="maxReplyBytes">
            <SizeField label={t('settingsMaxReplyBytes')} value={draft.maxReplyBytes} readOnly={readOnly} error={errorOf('maxReplyBytes')} onChange={(maxReplyBytes) => update({ maxReplyBytes })} />
          </div>
        </Section>

        {!readOnly && (
          <div className={styles.actions}>
            {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}
            {otherErrors.length > 0 && (
              <Notice intent="error" title={t('settingsOtherErrors')}>
                <ul className={styles.list}>
                  {otherErrors.map((text) => (
                    <li key={text}>{text}</li>
                  ))}
                </ul>
              </Notice>
            )}
            <Button appearance="primary" type="submit" disabled={saving}>
              {saving ? t('settingsSaving') : t('settingsSave')}
            </Button>
          </div>
        )}
      </form>
    </div>
  );
}
