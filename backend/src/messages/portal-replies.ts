/**
 * Whether an outbound message answers a message stored for the portal. The request stage asks it before
 * protection (a reply to a portal message stays in the portal), and the portal uses the same Message-ID
 * reading to file a new message into its thread; both read the message store, so the query lives here.
 */
import { and, eq, inArray } from 'drizzle-orm';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { portalMessages } from '../db/schema.ts';
import { storableText } from '../db/storable-text.ts';

/** Message-IDs named in In-Reply-To and References, with angle brackets, at most 50. */
export function referencedMessageIds(inReplyTo: string | undefined, references: string | undefined): string[] {
  const ids = `${inReplyTo ?? ''} ${references ?? ''}`.match(/<[^<>\s]{1,500}>/g) ?? [];
  // Compared with stored Message-IDs, which are kept in storable form.
  return [...new Set(ids.map((id) => storableText(id, 998)))].slice(-50);
}

/**
 * True when an outbound message answers a stored portal message of the tenant (an Outlook reply to a
 * portal message or to a reply written in the portal): it then stays in the portal.
 */
export async function repliesToPortalMessage(db: Database, tenantId: string, inReplyTo?: string, references?: string): Promise<boolean> {
  const ids = referencedMessageIds(inReplyTo, references);
  if (ids.length === 0) return false;
  const [hit] = await withTenants(db, tenantId, (tx) =>
    tx
      .select({ id: portalMessages.id })
      .from(portalMessages)
      .where(and(eq(portalMessages.tenantId, tenantId), inArray(portalMessages.messageIdHeader, ids)))
      .limit(1),
  );
  return hit !== undefined;
}
