/**
 * Warnings before S/MIME certificates run out: once a day the housekeeping looks for members' keys and
 * stored partner certificates that expire within 30 days and have no successor (another one for the same
 * address valid beyond that), and tells the tenant's owners and operators once, in one mail listing them:
 * a member whose key runs out can no longer sign, and mail to a partner whose certificate runs out is held.
 */
import { sql } from 'drizzle-orm';
import type { PortalLanguage } from '../../../common/src/portal-api.ts';
import { queryRows, type Queryable } from '../db/client.ts';
import { compose, escapeHtml, fromTenant, type MailTemplate } from '../mail/branded-mail.ts';
import type { TenantInfo } from '../tenants/tenant-directory.ts';
import type { KeyVault } from '../vault/key-vault.ts';
import { spoolPortalMail } from './portal-outbox.ts';
import type { TenantPortal } from './tenant-portal.ts';

export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;
const ALERTED_ROLES = new Set(['owner', 'operator']);
/** Most certificates listed in one warning; the rest are counted. */
const MAX_LISTED = 200;

interface Expiring {
  kind: 'member' | 'partner';
  id: string;
  address: string;
  fingerprint: string;
  not_after: Date | string;
}

const NOTICE: Record<PortalLanguage, MailTemplate & { member: string; partner: string; more: string }> = {
  en: {
    subject: '{{count}} S/MIME certificates expire within 30 days',
    text: 'These S/MIME certificates of your organisation run out soon:\n\n{{list}}\n\nA member whose key runs out can no longer sign; mail to a partner whose certificate runs out is held until a new one is imported or arrives with signed mail.\n',
    html: '<p>These S/MIME certificates of your organisation run out soon:</p><ul>{{listHtml}}</ul><p>A member whose key runs out can no longer sign; mail to a partner whose certificate runs out is held until a new one is imported or arrives with signed mail.</p>',
    member: 'member key',
    partner: 'partner certificate',
    more: 'and {{n}} more',
  },
  de: {
    subject: '{{count}} S/MIME-Zertifikate laufen in den nächsten 30 Tagen ab',
    text: 'Diese S/MIME-Zertifikate Ihrer Organisation laufen bald ab:\n\n{{list}}\n\nEin Mitglied, dessen Schlüssel abläuft, kann nicht mehr signieren; Mail an einen Partner, dessen Zertifikat abläuft, wird zurückgehalten, bis ein neues importiert wird oder mit signierter Mail eintrifft.\n',
    html: '<p>Diese S/MIME-Zertifikate Ihrer Organisation laufen bald ab:</p><ul>{{listHtml}}</ul><p>Ein Mitglied, dessen Schlüssel abläuft, kann nicht mehr signieren; Mail an einen Partner, dessen Zertifikat abläuft, wird zurückgehalten, bis ein neues importiert wird oder mit signierter Mail eintrifft.</p>',
    member: 'Mitgliedsschlüssel',
    partner: 'Partnerzertifikat',
    more: 'und {{n}} weitere',
  },
};

/**
 * Finds what expires soon for one tenant, spools the warning to its owners and operators and marks the rows
 * as warned, in the caller's transaction. Answers how many certificates were listed.
 */
export async function warnOfExpiringCertificates(
  tx: Queryable,
  deps: { vault: KeyVault; tenants: TenantPortal; hostname: string },
  tenant: TenantInfo,
  language: PortalLanguage,
  now: Date,
): Promise<number> {
  const until = new Date(now.getTime() + EXPIRY_WARNING_DAYS * DAY_MS).toISOString();
  const at = now.toISOString();
  const expiring = await queryRows<Expiring>(
    tx,
    sql`select 'member' as kind, k.id, k.address, k.fingerprint, k.not_after from member_keys k
        where k.tenant_id = ${tenant.id}::uuid and k.expiry_warned_at is null
          and k.not_after > ${at}::timestamptz and k.not_after <= ${until}::timestamptz
          and not exists (select 1 from member_keys n where n.tenant_id = k.tenant_id and n.address = k.address and n.not_after > ${until}::timestamptz)
        union all
        select 'partner' as kind, c.id, c.address, c.fingerprint, c.not_after from certificates c
        where c.tenant_id = ${tenant.id}::uuid and c.expiry_warned_at is null
          and c.not_after > ${at}::timestamptz and c.not_after <= ${until}::timestamptz
          and not exists (select 1 from certificates n where n.tenant_id = c.tenant_id and n.address = c.address and n.not_after > ${until}::timestamptz)
        order by 5, 3`,
  );
  if (expiring.length === 0) return 0;
  const words = NOTICE[language];
  const date = (value: Date | string) => new Date(value).toISOString().slice(0, 10);
  const listed = expiring.slice(0, MAX_LISTED);
  const lines = listed.map((e) => `${date(e.not_after)}  ${e.address}  (${e.kind === 'member' ? words.member : words.partner}, ${e.fingerprint.slice(0, 16)}…)`);
  const more = expiring.length > listed.length ? words.more.replace('{{n}}', String(expiring.length - listed.length)) : undefined;
  const values = {
    count: String(expiring.length),
    list: [...lines, ...(more ? [more] : [])].join('\n'),
    listHtml: [...lines, ...(more ? [more] : [])].map((l) => `<li>${escapeHtml(l)}</li>`).join(''),
  };
  const template: MailTemplate = { ...words, html: words.html.replace('{{listHtml}}', values.listHtml) };
  const domain = tenant.domains[0] ?? deps.hostname;
  for (const member of tenant.members.filter((m) => ALERTED_ROLES.has(m.role))) {
    const mail = await compose(
      fromTenant({ language, to: member.email, hostname: deps.hostname, from: `no-reply@${domain}`, branding: deps.tenants.mailBranding(tenant.id) }),
      template,
      values,
    );
    await spoolPortalMail(tx, deps.vault, tenant.id, '', member.email, mail, { certificateExpiry: true, listed: expiring.length });
  }
  const ids = (kind: Expiring['kind']) => expiring.filter((e) => e.kind === kind).map((e) => e.id);
  for (const [table, list] of [['member_keys', ids('member')], ['certificates', ids('partner')]] as const) {
    if (list.length === 0) continue;
    await tx.execute(sql`update ${sql.identifier(table)} set expiry_warned_at = ${at}::timestamptz where id in (${sql.join(list.map((id) => sql`${id}::uuid`), sql`, `)})`);
  }
  return expiring.length;
}
