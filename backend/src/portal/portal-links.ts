/**
 * Magic links and sign-in: opening a link (which starts a session), asking for a fresh link to one's
 * messages, and a member's sign-in link. The answers never tell whether an address has messages or
 * belongs to a member: only the rate limits run before the answer, the rest after it (DeferredWork).
 */
import { and, desc, eq } from 'drizzle-orm';
import type { PortalRole, PortalSession } from '../../../common/src/portal-api.ts';
import { appendAudit } from '../audit/audit-log.ts';
import type { Queryable } from '../db/client.ts';
import { scopeTransaction, withTenants } from '../db/tenant-scope.ts';
import { members, portalMessages, portalThreads } from '../db/schema.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { consumeLink, findLink, issueLink, takeRateToken, type LinkRow } from './magic-links.ts';
import { buildNotificationMail, buildSignInMail } from './notification-mail.ts';
import { spoolPortalMail, type PortalMailingDeps } from './portal-outbox.ts';
import { CONSOLE_ROLES } from './entra-sign-in.ts';
import { problems, type PortalProblemError } from './portal-problems.ts';
import { languageFor, type PortalSettings } from './portal-settings.ts';
import { openMeta, portalMessageHeadColumns, type PortalMessageHead } from './portal-store.ts';
import type { SecondFactors } from './second-factor.ts';
import { createSession, type NewSession } from './sessions.ts';
import { readableByRecipient, withdrawalOf } from './visibility.ts';

/** Work a route runs after it has answered (so its duration tells the client nothing). */
export type DeferredWork = () => Promise<void>;
const nothingToDo: DeferredWork = async () => {};

export interface PortalLinksOptions extends PortalMailingDeps {
  directory: TenantDirectory;
  factors: SecondFactors;
  /** Rate limits for asking for links: per address and per client IP, within windowSeconds. */
  linkRequestLimits?: { perAddress: number; perIp: number; windowSeconds: number };
}

export class PortalLinks {
  private readonly limits: { perAddress: number; perIp: number; windowSeconds: number };

  constructor(private readonly options: PortalLinksOptions) {
    this.limits = options.linkRequestLimits ?? { perAddress: 5, perIp: 20, windowSeconds: 3600 };
  }

  /** POST links/open: consumes the link and starts a session. */
  async openLink(
    token: string,
    clientIp: string,
  ): Promise<{ created: NewSession; view: PortalSession; threadId: string; messageId?: string; purpose: string }> {
    const { db } = this.options;
    const opened = await db.transaction(async (tx) => {
      const link = await consumeLink(tx, token);
      if (!link) throw problems.linkUnusable();
      // From here on the transaction works for the link's tenant only.
      await scopeTransaction(tx, link.tenantId);
      const settings = await this.options.tenants.settings(link.tenantId, tx);
      let role: PortalRole | undefined;
      let threadId = link.threadId ?? '';
      if (link.purpose === 'sign-in') {
        const [member] = await tx.select().from(members).where(and(eq(members.tenantId, link.tenantId), eq(members.email, link.address)));
        role = (member?.role as PortalRole | undefined) ?? 'contact';
        const refusal = this.signInRefusal(link.tenantId, member !== undefined, role, settings);
        if (refusal) {
          await appendAudit(tx, this.options.vault.auditKeys, {
            tenantId: link.tenantId,
            action: 'sign_in_failed',
            actorAddress: link.address,
            clientIp,
            details: { channel: 'magic-link', reason: refusal.problem.type.replace('urn:sealpost:problem:', ''), role },
          });
          // The link is used up and the refusal recorded; the reader is told what to do instead.
          return { refusal };
        }
        const [latest] = await tx
          .select({ id: portalThreads.id })
          .from(portalThreads)
          .where(and(eq(portalThreads.tenantId, link.tenantId), eq(portalThreads.memberAddress, link.address)))
          .orderBy(desc(portalThreads.lastMessageAt))
          .limit(1);
        threadId = latest?.id ?? '';
      } else if (link.portalMessageId) {
        const [row] = await tx.select(portalMessageHeadColumns).from(portalMessages).where(eq(portalMessages.id, link.portalMessageId));
        if (!row || withdrawalOf(row)) throw problems.linkUnusable();
      }
      // Members prove who they are by signing in; a recipient outside the tenant may have to prove a second factor.
      const factorRequired =
        role === undefined &&
        (await this.options.factors.requiredForNewSession(tx, { tenantId: link.tenantId, address: link.address, always: settings.secondFactor === 'always' }));
      const created = await createSession(tx, {
        tenantId: link.tenantId,
        address: link.address,
        role,
        clientIp,
        bindToIp: settings.bindSessionToIp,
        ttlMinutes: settings.sessionTtlMinutes,
        linkId: link.id,
        factorRequired,
      });
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: link.tenantId,
        action: 'signed_in',
        actorId: created.session.id,
        actorAddress: link.address,
        clientIp,
        subjectId: link.portalMessageId ?? undefined,
        details: { channel: 'magic-link', purpose: link.purpose, role: role ?? null, ...(factorRequired ? { secondFactor: 'required' } : {}) },
      });
      const view = this.options.tenants.describeSession(created.session, settings);
      return { created, view, threadId, messageId: link.portalMessageId ?? undefined, purpose: link.purpose };
    });
    if ('refusal' in opened) throw opened.refusal;
    return opened;
  }

  /**
   * Whether a sign-in link may sign this address in: a member with a console role only if the tenant still lets
   * admins use links (always, when it has no Entra ID sign-in to offer instead); an address that is no member
   * only if the tenant lets such addresses in as Contact.
   */
  private signInRefusal(tenantId: string, isMember: boolean, role: PortalRole, settings: PortalSettings): PortalProblemError | undefined {
    if (!isMember) return settings.unlistedAsContact ? undefined : problems.notAMember('Only members of the organisation sign in here. Ask your administrator to add you.');
    const entra = this.options.directory.tenantById(tenantId)?.entra !== undefined;
    if (CONSOLE_ROLES.includes(role) && !settings.magicLinkForAdmins && entra) return problems.organisationSignInRequired();
    return undefined;
  }

  /**
   * POST links/request: a fresh link for the address (or the unusable link's address, or the address of
   * an IP-changed session). Never tells whether the address has messages: this call does only what is the
   * same for every address (the rate limits), and returns the address-specific work, which the route runs
   * after answering, so the answer takes the same time for known and unknown addresses.
   */
  async requestLink(
    input: { email?: string; token?: string; sessionAddress?: { tenantId: string; address: string } },
    clientIp: string,
  ): Promise<DeferredWork> {
    const { db } = this.options;
    const ipWait = await takeRateToken(db, `link-request:ip:${clientIp}`, this.limits.perIp, this.limits.windowSeconds);
    if (ipWait) throw problems.rateLimited(ipWait);

    const link = input.token ? await findLink(db, input.token) : undefined;
    const address = input.token ? link?.address : input.email ? input.email.trim().toLowerCase() : input.sessionAddress?.address;
    if (!address) return nothingToDo;
    const addressWait = await takeRateToken(db, `link-request:address:${address}`, this.limits.perAddress, this.limits.windowSeconds);
    if (addressWait) throw problems.rateLimited(addressWait);

    return async () => {
      let targets: Array<{ tenantId: string; address: string; portalMessageId?: string }> = [];
      if (link) {
        if (link.purpose === 'sign-in') return this.sendSignInLink(link.address, clientIp);
        targets = [{ tenantId: link.tenantId, address: link.address, portalMessageId: link.portalMessageId ?? undefined }];
      } else if (input.email) {
        if (this.options.directory.tenantForAddress(address)) return this.sendSignInLink(address, clientIp);
        targets = this.options.directory.allTenants().map((t) => ({ tenantId: t.id, address }));
      } else if (input.sessionAddress) {
        targets = [input.sessionAddress];
      }
      let spooled = false;
      for (const target of targets) {
        const row = await this.latestReadable(target.tenantId, target.address, target.portalMessageId);
        if (!row) continue;
        await withTenants(db, row.tenantId, (tx) => this.sendFreshLink(tx, row, clientIp));
        spooled = true;
      }
      if (spooled) this.options.onSpooled();
    };
  }

  /** The message a fresh link leads to: the one asked for if still readable, else the latest readable. */
  private async latestReadable(tenantId: string, address: string, preferredId?: string): Promise<PortalMessageHead | undefined> {
    const readable = and(eq(portalMessages.tenantId, tenantId), readableByRecipient(address));
    return withTenants(this.options.db, tenantId, async (tx) => {
      if (preferredId) {
        const [row] = await tx.select(portalMessageHeadColumns).from(portalMessages).where(and(readable, eq(portalMessages.id, preferredId)));
        if (row) return row;
      }
      const [latest] = await tx.select(portalMessageHeadColumns).from(portalMessages).where(readable).orderBy(desc(portalMessages.sentAt)).limit(1);
      return latest;
    });
  }

  private async sendFreshLink(tx: Queryable, row: PortalMessageHead, clientIp: string): Promise<void> {
    const settings = await this.options.tenants.settings(row.tenantId, tx);
    const now = Date.now();
    const expiresAt = new Date(Math.min(now + settings.magicLinkTtlMinutes * 60_000, row.expiresAt?.getTime() ?? Infinity));
    const link = await issueLink(tx, {
      tenantId: row.tenantId,
      address: row.toAddress,
      purpose: 'message',
      threadId: row.threadId,
      portalMessageId: row.id,
      expiresAt,
    });
    const meta = await openMeta(this.options.vault, row, tx);
    const language = languageFor(settings, row.toAddress);
    const mail = await buildNotificationMail({
      language,
      template: settings.notificationTemplates[language],
      sender: { name: meta.fromName, address: row.fromAddress },
      recipient: row.toAddress,
      subject: meta.subject,
      link: this.options.tenants.linkUrl(link.token, row.tenantId),
      expiresAt,
      hostname: this.options.hostname,
      branding: this.options.tenants.mailBranding(row.tenantId),
    });
    await spoolPortalMail(tx, this.options.vault, row.tenantId, '', row.toAddress, mail, { portalFreshLinkFor: row.id });
    await appendAudit(tx, this.options.vault.auditKeys, {
      tenantId: row.tenantId,
      action: 'link_issued',
      actorAddress: row.toAddress,
      clientIp,
      subjectId: row.id,
      details: { channel: 'email', reason: 'requested', expiresAt: expiresAt.toISOString() },
    });
  }

  /**
   * POST sign-in: a sign-in link to a member's own address. Silent for addresses of no tenant, and as fast
   * for them as for members: only the rate limits run before the answer; the returned work runs after it.
   */
  async requestSignIn(email: string, clientIp: string): Promise<DeferredWork> {
    const { db } = this.options;
    const address = email.trim().toLowerCase();
    const ipWait = await takeRateToken(db, `link-request:ip:${clientIp}`, this.limits.perIp, this.limits.windowSeconds);
    if (ipWait) throw problems.rateLimited(ipWait);
    const addressWait = await takeRateToken(db, `link-request:address:${address}`, this.limits.perAddress, this.limits.windowSeconds);
    if (addressWait) throw problems.rateLimited(addressWait);
    return () => this.sendSignInLink(address, clientIp);
  }

  private async sendSignInLink(address: string, clientIp: string): Promise<void> {
    const { db, directory } = this.options;
    const tenant = directory.tenantForAddress(address);
    if (!tenant) return;
    const settings = await this.options.tenants.settings(tenant.id);
    const expiresAt = new Date(Date.now() + settings.signInLinkTtlMinutes * 60_000);
    await withTenants(db, tenant.id, async (tx) => {
      const link = await issueLink(tx, { tenantId: tenant.id, address, purpose: 'sign-in', expiresAt });
      const mail = await buildSignInMail({
        language: languageFor(settings, address),
        to: address,
        link: this.options.tenants.linkUrl(link.token, tenant.id, 'sign-in'),
        expiresAt,
        hostname: this.options.hostname,
        branding: this.options.tenants.mailBranding(tenant.id),
        from: `no-reply@${tenant.domains[0] ?? this.options.hostname}`,
      });
      await spoolPortalMail(tx, this.options.vault, tenant.id, '', address, mail, { portalSignIn: true });
      await appendAudit(tx, this.options.vault.auditKeys, {
        tenantId: tenant.id,
        action: 'link_issued',
        actorAddress: address,
        clientIp,
        details: { channel: 'email', purpose: 'sign-in', expiresAt: expiresAt.toISOString() },
      });
    });
    this.options.onSpooled();
  }

  /** For the routes: the link a (possibly unusable) token names, to find the address for a new one. */
  findLink(token: string): Promise<LinkRow | undefined> {
    return findLink(this.options.db, token);
  }
}
