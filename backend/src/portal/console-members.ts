/**
 * The organisation's members as the admin console manages them (/api/portal/admin/members): listed by
 * address a page at a time, added, changed and removed by owners and operators, each change audited in the
 * same transaction. The rules that keep an organisation in hand:
 * - members of the tenant file are written again at every start, so the console shows them and changes
 *   none of them (409: change the file);
 * - only an owner makes an owner, or changes or removes one;
 * - the last owner stays an owner;
 * - nobody changes their own role or removes themselves (someone else must, so one slip cannot lock out).
 * A change also takes effect on the member's open sessions at once (their role is read from the session),
 * and the tenant directory of this process reads the tenant's members again.
 */
import { and, asc, eq, gt, ilike, isNotNull, or, sql, type SQL } from 'drizzle-orm';
import type { ConsoleMember, ConsoleMemberPage, ConsoleRowSource, PortalFieldError, PortalRole } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import type { Database, Transaction } from '../db/client.ts';
import { portalSessions } from '../db/portal-schema.ts';
import { members } from '../db/schema.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { checkAddressSyntax } from '../mail/address-syntax.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import type { AuditKeys } from '../vault/audit-keys.ts';
import { problems } from './portal-problems.ts';

export const MEMBER_ROLES: readonly PortalRole[] = ['owner', 'operator', 'analyst', 'auditor', 'contact'];
/** A name is what mail shows for the member: a line, not a page. */
export const MAX_MEMBER_NAME_CHARS = 200;
export const MAX_MEMBER_SEARCH_CHARS = 200;

export interface ConsoleActor {
  tenantId: string;
  /** The session that acted. */
  actorId: string;
  actorAddress: string;
  actorRole: PortalRole;
  clientIp: string;
}

type MemberRow = typeof members.$inferSelect;

const NOT_CHANGED = 'The member was not changed';
const FILE_ROW = 'This member comes from the tenant file, which is applied again at every start; change or remove it there.';

function view(row: MemberRow): ConsoleMember {
  const source = row.source as ConsoleRowSource;
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role as PortalRole,
    source,
    entraLinked: row.entraObjectId !== null,
    changedBy: row.changedBy,
    updatedAt: row.updatedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    editable: source !== 'file',
  };
}

const fieldError = (field: string, rule: PortalFieldError['rule'], text: string, limit?: string | number): PortalFieldError => ({
  field,
  message: `${field}: ${text}`,
  rule,
  ...(limit === undefined ? {} : { limit }),
});

/** A term for LIKE with its wildcards taken literally. */
const likeTerm = (term: string) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class ConsoleMembers {
  constructor(
    private readonly db: Database,
    private readonly auditKeys: AuditKeys,
    private readonly directory: TenantDirectory,
  ) {}

  /** Members by address; `search` finds a part of the address or name in any case; `after` is the last address of the page before. */
  async list(tenantId: string, options: { search?: string; after?: string; limit: number }): Promise<ConsoleMemberPage> {
    const conditions: SQL[] = [eq(members.tenantId, tenantId)];
    if (options.search) conditions.push(or(ilike(members.email, likeTerm(options.search)), ilike(members.name, likeTerm(options.search)))!);
    if (options.after) conditions.push(gt(members.email, options.after));
    const rows = await withTenants(this.db, tenantId, (tx) =>
      tx
        .select()
        .from(members)
        .where(and(...conditions))
        .orderBy(asc(members.email))
        .limit(options.limit + 1),
    );
    const page = rows.slice(0, options.limit);
    return { members: page.map(view), ...(rows.length > options.limit ? { next: page.at(-1)!.email } : {}) };
  }

  async add(actor: ConsoleActor, input: { email: string; name?: string | null; role: string }): Promise<ConsoleMember> {
    const email = input.email.trim().toLowerCase();
    const name = input.name?.trim() || null;
    const errors: PortalFieldError[] = [];
    const domains = this.directory.tenantById(actor.tenantId)?.domains ?? [];
    const syntax = checkAddressSyntax(email);
    if (email === '') errors.push(fieldError('email', 'required', 'enter the member\'s address'));
    else if (!syntax.valid) errors.push(fieldError('email', 'address', `is not a valid address: ${syntax.problem}`));
    else if (!domains.includes(email.slice(email.lastIndexOf('@') + 1))) {
      errors.push(fieldError('email', 'foreign-domain', `must be an address in one of the organisation's domains (${domains.join(', ')})`, domains.join(', ')));
    }
    errors.push(...this.nameErrors(name), ...this.roleErrors(input.role));
    if (errors.length) throw problems.invalidFields(errors, NOT_CHANGED);
    const role = input.role as PortalRole;
    if (role === 'owner' && actor.actorRole !== 'owner') throw problems.forbidden('Only an owner may make someone an owner.');

    const added = await withTenants(this.db, actor.tenantId, async (tx) => {
      const [row] = await tx
        .insert(members)
        .values({ tenantId: actor.tenantId, email, name, role, source: 'console', changedBy: actor.actorAddress, updatedAt: new Date() })
        .onConflictDoNothing()
        .returning();
      if (!row) throw problems.invalidFields([fieldError('email', 'duplicate', `${email} is already a member`, email)], NOT_CHANGED);
      await this.setSessionRoles(tx, actor.tenantId, email, role);
      await appendAudit(tx, this.auditKeys, {
        ...this.auditOf(actor, row),
        action: 'member_added',
        details: { email, role, name },
      });
      return row;
    });
    await this.directory.reloadMembers(actor.tenantId);
    return view(added);
  }

  async change(actor: ConsoleActor, id: string, input: { name?: string | null; role?: string }): Promise<ConsoleMember> {
    const errors: PortalFieldError[] = [];
    const name = input.name === undefined ? undefined : input.name?.trim() || null;
    if (name !== undefined) errors.push(...this.nameErrors(name));
    if (input.role !== undefined) errors.push(...this.roleErrors(input.role));
    if (errors.length) throw problems.invalidFields(errors, NOT_CHANGED);

    const changed = await withTenants(this.db, actor.tenantId, async (tx) => {
      const before = await this.lockedMember(tx, actor.tenantId, id);
      const role = (input.role ?? before.role) as PortalRole;
      // An owner's name too: whoever may rename an owner could make them look like someone else.
      if (before.role === 'owner' && actor.actorRole !== 'owner') throw problems.forbidden('Only an owner may change an owner.');
      if (role !== before.role) {
        if (before.email === actor.actorAddress) throw problems.forbidden('Nobody changes their own role; ask another owner.');
        if (role === 'owner' && actor.actorRole !== 'owner') throw problems.forbidden('Only an owner may make someone an owner.');
        if (before.role === 'owner') await this.keepAnOwner(tx, actor.tenantId);
      }
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      if (role !== before.role) changes.role = { from: before.role, to: role };
      if (name !== undefined && name !== before.name) changes.name = { from: before.name, to: name };
      if (Object.keys(changes).length === 0) return before;
      const [row] = await tx
        .update(members)
        .set({ role, name: name === undefined ? before.name : name, changedBy: actor.actorAddress, updatedAt: new Date() })
        .where(eq(members.id, before.id))
        .returning();
      if (changes.role) await this.setSessionRoles(tx, actor.tenantId, before.email, role);
      await appendAudit(tx, this.auditKeys, { ...this.auditOf(actor, before), action: 'member_changed', details: { email: before.email, changes } });
      return row!;
    });
    await this.directory.reloadMembers(actor.tenantId);
    return view(changed);
  }

  async remove(actor: ConsoleActor, id: string): Promise<void> {
    await withTenants(this.db, actor.tenantId, async (tx) => {
      const before = await this.lockedMember(tx, actor.tenantId, id);
      if (before.email === actor.actorAddress) throw problems.forbidden('Nobody removes themselves; ask another owner or operator.');
      if (before.role === 'owner') {
        if (actor.actorRole !== 'owner') throw problems.forbidden('Only an owner may remove an owner.');
        await this.keepAnOwner(tx, actor.tenantId);
      }
      await tx.delete(members).where(eq(members.id, before.id));
      // Still someone of the organisation's domain: a contact, with no console.
      await this.setSessionRoles(tx, actor.tenantId, before.email, 'contact');
      await appendAudit(tx, this.auditKeys, {
        ...this.auditOf(actor, before),
        action: 'member_removed',
        details: { email: before.email, role: before.role, name: before.name },
      });
    });
    await this.directory.reloadMembers(actor.tenantId);
  }

  /**
   * The member, read under the tenant's member lock: two owners demoting each other at the same moment
   * are taken one after the other, so the check for the last owner sees the first one's change.
   */
  private async lockedMember(tx: Transaction, tenantId: string, id: string): Promise<MemberRow> {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`members:${tenantId}`}, 0))`);
    // Not a uuid: nothing to find (the database would refuse the comparison).
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw problems.notFound();
    const [row] = await tx.select().from(members).where(and(eq(members.tenantId, tenantId), eq(members.id, id)));
    if (!row) throw problems.notFound();
    if (row.source === 'file') throw problems.conflict(FILE_ROW);
    return row;
  }

  /** Refuses when the owner about to be demoted or removed is the only one. */
  private async keepAnOwner(tx: Transaction, tenantId: string): Promise<void> {
    const [count] = await tx
      .select({ owners: sql<number>`count(*)::int` })
      .from(members)
      .where(and(eq(members.tenantId, tenantId), eq(members.role, 'owner')));
    if ((count?.owners ?? 0) <= 1) throw problems.conflict('This is the organisation\'s last owner; make someone else an owner first.');
  }

  /** The member's open sessions (signed in as a member, not through a message's link) get the new role now. */
  private async setSessionRoles(tx: Transaction, tenantId: string, email: string, role: PortalRole): Promise<void> {
    await tx
      .update(portalSessions)
      .set({ role })
      .where(and(eq(portalSessions.tenantId, tenantId), eq(portalSessions.address, email), isNotNull(portalSessions.role)));
  }

  private nameErrors(name: string | null): PortalFieldError[] {
    return name !== null && name.length > MAX_MEMBER_NAME_CHARS
      ? [fieldError('name', 'too-long', `must be at most ${MAX_MEMBER_NAME_CHARS} characters`, MAX_MEMBER_NAME_CHARS)]
      : [];
  }

  private roleErrors(role: unknown): PortalFieldError[] {
    return MEMBER_ROLES.includes(role as PortalRole) ? [] : [fieldError('role', 'one-of', `must be one of ${MEMBER_ROLES.join(', ')}`, MEMBER_ROLES.join(', '))];
  }

  private auditOf(actor: ConsoleActor, row: MemberRow) {
    return { tenantId: actor.tenantId, actorId: actor.actorId, actorAddress: actor.actorAddress, clientIp: actor.clientIp, subjectId: row.id };
  }
}
