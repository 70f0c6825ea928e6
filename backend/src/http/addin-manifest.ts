/**
 * The Outlook add-in manifest as this gateway serves it: the repository's manifest.xml with every address
 * moved to the gateway's public origin, and a <Version> that rises whenever the rendered content changes.
 * Outlook and the Microsoft 365 admin center only take an updated manifest with a higher version, and
 * several gateway processes must hand out the same one, so the version's last part is a revision number
 * kept in the database against the hash of the content.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { desc } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { addinManifestRevisions } from '../db/schema.ts';

/** The manifest checked in at the repository root (placeholder origin https://sealpost.example.com). */
export const REPOSITORY_MANIFEST = new URL('../../../manifest.xml', import.meta.url);

export interface RenderedAddinManifest {
  xml: string;
  /** The four-part version written into the manifest, such as 1.0.0.3. */
  version: string;
}

// The version is trimmed in code: `\s*([^<]*?)\s*` would let the spaces be shared out in many ways.
const VERSION_ELEMENT = /<Version>([^<]*)<\/Version>/;
const MAX_REVISION_ATTEMPTS = 5;

export function readRepositoryManifest(): string {
  return readFileSync(REPOSITORY_MANIFEST, 'utf8');
}

/**
 * Moves every address in the manifest to the public origin: the DefaultValue and Value attributes that
 * hold URLs (icons, pages, support link and their locale overrides) and the AppDomain entries.
 * Namespace URIs are names, not addresses, and stay as they are.
 */
export function rewriteManifestUrls(template: string, publicUrl: string): string {
  const origin = new URL(publicUrl).origin;
  return template
    .replace(/\b(DefaultValue|Value)="https?:\/\/[^/"]*/g, (_match, attribute: string) => `${attribute}="${origin}`)
    .replace(/<AppDomain>[^<]*<\/AppDomain>/g, `<AppDomain>${origin}</AppDomain>`);
}

/** SHA-256 of the manifest with its version left out: what decides whether the version must rise. */
export function manifestContentHash(xml: string): string {
  return createHash('sha256').update(xml.replace(VERSION_ELEMENT, '<Version/>')).digest('hex');
}

/** The manifest's version with its last part replaced by the revision: 1.0.0.0 with revision 3 → 1.0.0.3. */
export function versionWithRevision(xml: string, revision: number): string {
  const declared = VERSION_ELEMENT.exec(xml)?.[1]?.trim() ?? '1.0.0.0';
  const parts = declared.split('.').map((part) => Number.parseInt(part, 10) || 0);
  while (parts.length < 3) parts.push(0);
  return [...parts.slice(0, 3), revision].join('.');
}

/**
 * The revision for this content: the newest one when it has the same content, else a new one above it.
 * Two processes that render at once agree: the revision is the primary key, so one insert wins and the
 * other reads the winner's row again.
 */
export async function manifestRevision(db: Queryable, contentHash: string): Promise<number> {
  for (let attempt = 0; attempt < MAX_REVISION_ATTEMPTS; attempt++) {
    const [latest] = await db
      .select({ revision: addinManifestRevisions.revision, contentHash: addinManifestRevisions.contentHash })
      .from(addinManifestRevisions)
      .orderBy(desc(addinManifestRevisions.revision))
      .limit(1);
    if (latest?.contentHash === contentHash) return latest.revision;
    const next = (latest?.revision ?? 0) + 1;
    const inserted = await db
      .insert(addinManifestRevisions)
      .values({ revision: next, contentHash })
      .onConflictDoNothing()
      .returning({ revision: addinManifestRevisions.revision });
    if (inserted.length > 0) return next;
  }
  throw new Error(`no add-in manifest revision could be recorded after ${MAX_REVISION_ATTEMPTS} attempts`);
}

/** The manifest for this gateway's public URL, with the version the database holds for its content. */
export async function renderAddinManifest(db: Queryable, template: string, publicUrl: string): Promise<RenderedAddinManifest> {
  const rewritten = rewriteManifestUrls(template, publicUrl);
  const revision = await manifestRevision(db, manifestContentHash(rewritten));
  const version = versionWithRevision(rewritten, revision);
  return { xml: rewritten.replace(VERSION_ELEMENT, `<Version>${version}</Version>`), version };
}
