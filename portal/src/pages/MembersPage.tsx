/**
 * Members and roles, from /api/portal/admin/members: every console role reads the list (search by address
 * or name, a page at a time by address); owners and operators add members of the organisation's domains,
 * change their name and role, and remove them. The server keeps the rules (only owners touch owners,
 * nobody changes their own role, the last owner stays) and says why it refuses; members of the tenant
 * file are shown read-only, as the server refuses to change them. Every change is audited by the server.
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
  DialogTrigger,
  Field,
  Input,
  Select,
  Spinner,
  Subtitle1,
  makeStyles,
  tokens,
} from '@fluentui/react-components';
import type { ConsoleMember, ConsoleMemberPage, PortalRole } from '../../../common/src/portal-api.ts';
import { api } from '../api.ts';
import { useI18n, type MessageKey } from '../i18n.tsx';
import { problemDetail } from '../problems.ts';
import { canReadMembers, isAdminRole, useSession } from '../session.tsx';
import { ConfirmDialog } from './ConfirmDialog.tsx';
import { Notice, PageTitle, focusContent, usePageStyles, useTableStyles } from './common.tsx';
import { fieldErrorsOf } from './field-errors.ts';

const MEMBERS = '/api/portal/admin/members';
const PAGE_SIZE = 50;
const ROLES: PortalRole[] = ['owner', 'operator', 'analyst', 'auditor', 'contact'];

const useStyles = makeStyles({
  section: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, alignSelf: 'stretch', minWidth: 0 },
  form: { display: 'flex', flexDirection: 'column', gap: tokens.spacingVerticalS, maxWidth: '480px' },
  search: { display: 'flex', flexWrap: 'wrap', gap: tokens.spacingHorizontalS, alignItems: 'flex-end' },
  searchField: { flexGrow: 1, minWidth: '200px', maxWidth: '420px' },
});

export const roleName = (role: string, t: (key: MessageKey) => string): string =>
  ROLES.includes(role as PortalRole) ? t(`role_${role}` as MessageKey) : role;

/** The roles a signed-in admin may give: an owner any, an operator any but owner. */
const rolesFor = (own: PortalRole | undefined) => ROLES.filter((role) => role !== 'owner' || own === 'owner');

export function MembersPage() {
  const { t, formatDate } = useI18n();
  const page = usePageStyles();
  const styles = { ...useTableStyles(), ...useStyles() };
  const { session } = useSession();
  const allowed = canReadMembers(session?.role);
  const admin = isAdminRole(session?.role);
  const [members, setMembers] = useState<ConsoleMember[] | undefined>(undefined);
  const [next, setNext] = useState<string | undefined>(undefined);
  const [search, setSearch] = useState('');
  const [searched, setSearched] = useState('');
  const [notice, setNotice] = useState<{ intent: 'success' | 'error'; text: string } | undefined>(undefined);
  const [draft, setDraft] = useState({ email: '', name: '', role: 'contact' as PortalRole });
  const [addErrors, setAddErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState<{ member: ConsoleMember; name: string; role: PortalRole; errors: Record<string, string> } | undefined>(undefined);
  const [removing, setRemoving] = useState<ConsoleMember | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(undefined);

  // Not dependent on the language: switching it keeps the list and the search as they are.
  const load = useCallback(async (term: string, after?: string) => {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (term) query.set('search', term);
    if (after) query.set('after', after);
    try {
      const answer = await api.get<ConsoleMemberPage>(`${MEMBERS}?${query}`);
      setMembers((shown) => (after ? [...(shown ?? []), ...answer.members] : answer.members));
      setNext(answer.next);
      setLoadError(undefined);
    } catch (error) {
      setLoadError(error);
    }
  }, []);

  useEffect(() => {
    if (allowed) void load('');
  }, [allowed, load]);

  if (!allowed) return <Notice intent="error">{t('problemForbidden')}</Notice>;

  const runSearch = (event: FormEvent) => {
    event.preventDefault();
    setSearched(search.trim());
    void load(search.trim());
  };

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setNotice(undefined);
    try {
      const added = await api.post<ConsoleMember>(MEMBERS, { email: draft.email, name: draft.name.trim() || null, role: draft.role });
      setAddErrors({});
      setDraft({ email: '', name: '', role: 'contact' });
      setNotice({ intent: 'success', text: t('memberAdded', { address: added.email, role: roleName(added.role, t) }) });
      await load(searched);
    } catch (error) {
      const fields = fieldErrorsOf(error, t);
      setAddErrors(fields ?? {});
      if (!fields) setNotice({ intent: 'error', text: problemDetail(error, t) });
    } finally {
      setBusy(false);
    }
  };

  const save = async () => {
    if (!editing) return;
    const { member, name, role } = editing;
    setBusy(true);
    try {
      const change: { name?: string | null; role?: PortalRole } = {};
      if ((name.trim() || null) !== member.name) change.name = name.trim() || null;
      if (role !== member.role) change.role = role;
      await api.patch<ConsoleMember>(`${MEMBERS}/${encodeURIComponent(member.id)}`, change);
      setEditing(undefined);
      setNotice({ intent: 'success', text: t('memberSaved', { address: member.email }) });
      await load(searched);
    } catch (error) {
      const fields = fieldErrorsOf(error, t);
      if (fields) {
        setEditing({ ...editing, errors: fields });
      } else {
        setEditing(undefined);
        setNotice({ intent: 'error', text: problemDetail(error, t) });
      }
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    const member = removing;
    setRemoving(undefined);
    if (!member) return;
    try {
      await api.delete(`${MEMBERS}/${encodeURIComponent(member.id)}`);
      // The row goes with the notice, not a round trip later.
      setMembers((shown) => shown?.filter((row) => row.id !== member.id));
      setNotice({ intent: 'success', text: t('memberRemoved', { address: member.email }) });
      focusContent();
      await load(searched);
    } catch (error) {
      setNotice({ intent: 'error', text: problemDetail(error, t) });
    }
  };

  const byAt = (member: ConsoleMember) =>
    member.changedBy && member.updatedAt
      ? t('memberByAt', { who: member.changedBy, when: formatDate(member.updatedAt) })
      : formatDate(member.createdAt);

  return (
    <div className={page.stack}>
      <PageTitle>{t('membersTitle')}</PageTitle>
      <p className={page.muted}>{t('membersIntro')}</p>
      {!admin && <Notice intent="info">{t('membersReadOnly')}</Notice>}
      {notice && <Notice intent={notice.intent}>{notice.text}</Notice>}
      {loadError !== undefined && <Notice intent="error">{problemDetail(loadError, t)}</Notice>}

      <section className={styles.section} aria-labelledby="members-list">
        <Subtitle1 as="h2" id="members-list">
          {t('membersTable')}
        </Subtitle1>
        <p className={page.muted}>{t('membersFileNote')}</p>
        <form className={styles.search} role="search" onSubmit={runSearch}>
          <Field label={t('membersSearch')} className={styles.searchField}>
            <Input type="search" value={search} maxLength={200} onChange={(_, data) => setSearch(data.value)} />
          </Field>
          <Button type="submit">{t('membersSearchButton')}</Button>
        </form>
        {members === undefined ? (
          <Spinner label={t('loading')} />
        ) : members.length === 0 ? (
          <p>{t('membersEmpty')}</p>
        ) : (
          <table className={styles.table}>
            <caption className={styles.caption}>{t('membersTable')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('colMember')}</th>
                <th scope="col">{t('colRole')}</th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colEntra')}
                </th>
                <th scope="col" className={styles.wideOnly}>
                  {t('colChanged')}
                </th>
                {admin && <th scope="col">{t('colActions')}</th>}
              </tr>
            </thead>
            <tbody>
              {members.map((member) => {
                const self = member.email === session?.address;
                return (
                  <tr key={member.id}>
                    <td>
                      {member.email} {self && <span className={styles.secondary}>{t('memberYou')}</span>}
                      {member.name && <div className={styles.secondary}>{member.name}</div>}
                      <div className={`${styles.secondary} ${styles.narrowOnly}`}>{byAt(member)}</div>
                    </td>
                    <td>
                      {roleName(member.role, t)}
                      <div className={styles.secondary}>{t(`source_${member.source}` as MessageKey)}</div>
                    </td>
                    <td className={styles.wideOnly}>{member.entraLinked ? t('entraLinked') : t('entraNotLinked')}</td>
                    <td className={styles.wideOnly}>{byAt(member)}</td>
                    {admin && (
                      <td>
                        {member.editable ? (
                          <div className={page.row}>
                            <Button
                              size="small"
                              aria-label={t('memberChangeLabel', { address: member.email })}
                              onClick={() => setEditing({ member, name: member.name ?? '', role: member.role, errors: {} })}
                            >
                              {t('memberChange')}
                            </Button>
                            {!self && (
                              <Button size="small" aria-label={t('memberRemoveLabel', { address: member.email })} onClick={() => setRemoving(member)}>
                                {t('memberRemove')}
                              </Button>
                            )}
                          </div>
                        ) : (
                          <span className={styles.secondary}>{t('memberFromFile')}</span>
                        )}
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {next && (
          <div>
            <Button onClick={() => void load(searched, next)}>{t('membersMore')}</Button>
          </div>
        )}
      </section>

      {admin && (
        <section className={styles.section} aria-labelledby="member-add">
          <Subtitle1 as="h2" id="member-add">
            {t('memberAddTitle')}
          </Subtitle1>
          <form className={styles.form} onSubmit={(event) => void add(event)} noValidate>
            <Field label={t('memberEmail')} required validationMessage={addErrors.email} validationState={addErrors.email ? 'error' : 'none'}>
              <Input type="email" value={draft.email} onChange={(_, data) => setDraft({ ...draft, email: data.value })} />
            </Field>
            <Field label={t('memberName')} validationMessage={addErrors.name} validationState={addErrors.name ? 'error' : 'none'}>
              <Input value={draft.name} onChange={(_, data) => setDraft({ ...draft, name: data.value })} />
            </Field>
            <Field label={t('memberRole')} validationMessage={addErrors.role} validationState={addErrors.role ? 'error' : 'none'}>
              <Select value={draft.role} onChange={(_, data) => setDraft({ ...draft, role: data.value as PortalRole })}>
                {rolesFor(session?.role).map((role) => (
                  <option key={role} value={role}>
                    {roleName(role, t)}
                  </option>
                ))}
              </Select>
            </Field>
            <div>
              <Button appearance="primary" type="submit" disabled={busy}>
                {t('memberAdd')}
              </Button>
            </div>
          </form>
        </section>
      )}

      <Dialog open={editing !== undefined} onOpenChange={(_, data) => !data.open && setEditing(undefined)}>
        <DialogSurface>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void save();
            }}
          >
            <DialogBody>
              <DialogTitle>{t('memberChangeTitle', { address: editing?.member.email ?? '' })}</DialogTitle>
              <DialogContent className={styles.form}>
                <Field label={t('memberName')} validationMessage={editing?.errors.name} validationState={editing?.errors.name ? 'error' : 'none'}>
                  <Input value={editing?.name ?? ''} onChange={(_, data) => editing && setEditing({ ...editing, name: data.value })} />
                </Field>
                <Field label={t('memberRole')} validationMessage={editing?.errors.role} validationState={editing?.errors.role ? 'error' : 'none'}>
                  <Select
                    value={editing?.role ?? 'contact'}
                    disabled={editing?.member.email === session?.address}
                    onChange={(_, data) => editing && setEditing({ ...editing, role: data.value as PortalRole })}
                  >
                    {/* An owner shown to an operator keeps the option, so the select says what the member is. */}
                    {ROLES.filter((role) => rolesFor(session?.role).includes(role) || role === editing?.member.role).map((role) => (
                      <option key={role} value={role}>
                        {roleName(role, t)}
                      </option>
                    ))}
                  </Select>
                </Field>
              </DialogContent>
              <DialogActions>
                <Button appearance="primary" type="submit" disabled={busy}>
                  {t('memberSave')}
                </Button>
                <DialogTrigger disableButtonEnhancement>
                  <Button appearance="secondary">{t('cancel')}</Button>
                </DialogTrigger>
              </DialogActions>
            </DialogBody>
          </form>
        </DialogSurface>
      </Dialog>

      <ConfirmDialog
        open={removing !== undefined}
        title={t('memberRemoveTitle', { address: removing?.email ?? '' })}
        body={t('memberRemoveConfirm', { address: removing?.email ?? '' })}
        confirm={t('memberRemove')}
        onConfirm={() => void remove()}
        onClose={() => setRemoving(undefined)}
      />
    </div>
  );
}
