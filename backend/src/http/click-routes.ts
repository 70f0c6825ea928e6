/**
 * The click check (`GET /l/<token>`): a link that link protection rewrote in a delivered message comes
 * here when it is clicked. The link is checked again under the tenant's policy as it is now and followed
 * through its redirects; a clean link goes straight on (302), a suspicious one shows a page in the
 * reader's language that says what was found and where the link really goes, with a way on when the
 * policy allows it. A token that was changed or made up is refused with a page that says so, and nothing
 * is fetched for it. Every click is in the message's trace.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Database } from '../db/client.ts';
import { withTenants } from '../db/tenant-scope.ts';
import { ClickLinkRefused, type ClickLinks } from '../guard/click-links.ts';
import { checkClickedLink, type ClickedLinkCheck } from '../guard/checks/link-protection.ts';
import type { LinkFollower } from '../guard/link-follower.ts';
import type { GuardPolicy } from '../guard/policy.ts';
import type { GuardPolicyStore } from '../guard/policy-store.ts';
import type { Logger } from '../logger.ts';
import { recordTrace } from '../messages/message-trace.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';

export interface ClickRoutesOptions {
  db: Database;
  logger: Logger;
  clickLinks: ClickLinks;
  directory: Pick<TenantDirectory, 'tenantById'>;
  policies: Pick<GuardPolicyStore, 'policiesOf' | 'policyFor'>;
  /** Follows the link to where it leads; without one the link is judged as it stands. */
  follower?: LinkFollower;
  followTimeoutMs: number;
}

type Language = 'en' | 'de';

/** The reader's language from Accept-Language: the first of English and German they prefer, else English. */
export function readerLanguage(header: string | undefined): Language {
  const ranked = (header ?? '')
    .slice(0, 500)
    .split(',')
    .map((entry, order) => {
      const [tag = '', ...params] = entry.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { primary: tag.trim().toLowerCase().split('-')[0], q: q ? Number(q.slice(2)) : 1, order };
    })
    .filter((entry) => (entry.primary === 'de' || entry.primary === 'en') && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  return ranked[0]?.primary === 'de' ? 'de' : 'en';
}

const TEXT = {
  en: {
    warningTitle: 'Be careful with this link',
    warningIntro: 'Your organisation checked this link when you clicked it and found:',
    destination: 'Where the link really goes',
    through: 'On the way it passes through',
    stay: 'If you did not expect this link, close this page. Nothing has been opened.',
    openAnyway: 'Open the link anyway',
    notAllowed: 'Your organisation does not let links open that were found suspicious. If you need this page, ask your IT team.',
    refusedTitle: 'This link cannot be opened',
    tampered: 'The link was changed after it was sent, or it was not made by your organisation’s mail protection. It was not opened.',
    malformed: 'The link is incomplete; it may have been cut off when it was copied. Open it again from the message.',
    unknownTenant: 'The link belongs to an organisation this service no longer protects. It was not opened.',
    symbols: {
      LINK_USERINFO: 'The address hides its real destination behind a name in front of an @ sign.',
      LINK_IP_LITERAL: 'The link goes to a bare number address (an IP address) instead of a name.',
      LINK_SHORTENER: 'The link goes through a URL shortener, which hides where it leads.',
      LINK_LOOKALIKE: 'The address imitates {like} but belongs to someone else.',
      LINK_MIXED_SCRIPT: 'The address mixes letters of different alphabets, a common trick to imitate a known name.',
      LINK_REDIRECTS: 'The link is passed on {n} times before it arrives.',
      LINK_LOGIN_FORM: 'The page asks for a password. Never enter a password on a page you reached from an email.',
    } as Record<string, string>,
  },
  de: {
    warningTitle: 'Vorsicht bei diesem Link',
    warningIntro: 'Ihre Organisation hat diesen Link beim Anklicken geprüft und Folgendes gefunden:',
    destination: 'Wohin der Link wirklich führt',
    through: 'Unterwegs führt er über',
    stay: 'Wenn Sie diesen Link nicht erwartet haben, schließen Sie diese Seite. Es wurde nichts geöffnet.',
    openAnyway: 'Link trotzdem öffnen',
    notAllowed: 'Ihre Organisation lässt Links, die verdächtig sind, nicht öffnen. Wenn Sie diese Seite brauchen, fragen Sie Ihre IT.',
    refusedTitle: 'Dieser Link kann nicht geöffnet werden',
    tampered: 'Der Link wurde nach dem Versand verändert oder stammt nicht vom Mailschutz Ihrer Organisation. Er wurde nicht geöffnet.',
    malformed: 'Der Link ist unvollständig; vielleicht wurde er beim Kopieren abgeschnitten. Öffnen Sie ihn erneut aus der Nachricht.',
    unknownTenant: 'Der Link gehört zu einer Organisation, die dieser Dienst nicht mehr schützt. Er wurde nicht geöffnet.',
    symbols: {
      LINK_USERINFO: 'Die Adresse versteckt ihr wirkliches Ziel hinter einem Namen vor einem @-Zeichen.',
      LINK_IP_LITERAL: 'Der Link führt zu einer bloßen Nummernadresse (IP-Adresse) statt zu einem Namen.',
      LINK_SHORTENER: 'Der Link führt über einen URL-Kürzer, der sein Ziel verbirgt.',
      LINK_LOOKALIKE: 'Die Adresse ahmt {like} nach, gehört aber jemand anderem.',
      LINK_MIXED_SCRIPT: 'Die Adresse mischt Buchstaben verschiedener Alphabete, ein häufiger Trick, um bekannte Namen nachzuahmen.',
      LINK_REDIRECTS: 'Der Link wird {n}-mal weitergeleitet, bevor er ankommt.',
      LINK_LOGIN_FORM: 'Die Seite fragt nach einem Passwort. Geben Sie nie ein Passwort auf einer Seite ein, die Sie über eine E-Mail erreicht haben.',
    } as Record<string, string>,
  },
} as const;

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/** A long address shown whole but broken where it may break, with its host set apart so it is read first. */
function addressHtml(url: string): string {
  let host = '';
  try {
    host = new URL(url).host;
  } catch {
    return `<span class="address">${escapeHtml(url.slice(0, 2048))}</span>`;
  }
  const at = url.indexOf(host);
  const before = url.slice(0, at);
  const after = url.slice(at + host.length, 2048);
  return `<span class="address">${escapeHtml(before)}<strong>${escapeHtml(host)}</strong>${escapeHtml(after)}</span>`;
}

const STYLE = `
  :root { color-scheme: light; }
  body { margin: 0; font-family: "Segoe UI", "Segoe UI Web (West European)", -apple-system, BlinkMacSystemFont, Roboto, "Helvetica Neue", sans-serif;
    background: #f5f5f5; color: #242424; font-size: 15px; line-height: 1.5; }
  main { max-width: 640px; margin: 48px auto; background: #fff; border-radius: 8px; padding: 28px 32px;
    box-shadow: 0 2px 4px rgba(0,0,0,.14), 0 0 2px rgba(0,0,0,.12); border-top: 4px solid var(--accent); }
  h1 { font-size: 24px; font-weight: 600; line-height: 32px; margin: 0 0 12px; }
  h2 { font-size: 16px; font-weight: 600; margin: 20px 0 6px; }
  ul { padding-left: 20px; margin: 8px 0; }
  li { margin: 4px 0; }
  .address { display: block; font-family: Consolas, "Courier New", monospace; font-size: 14px; background: #faf9f8;
    border: 1px solid #e0e0e0; border-radius: 4px; padding: 8px 10px; overflow-wrap: anywhere; }
  .address strong { color: #b10e1c; font-weight: 700; }
  .hops { font-size: 13px; color: #616161; }
  .hops li { overflow-wrap: anywhere; }
  .actions { margin-top: 24px; display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
  .secondary { color: #424242; font-size: 14px; }
  a.proceed { color: #b10e1c; font-size: 14px; }
  @media (max-width: 700px) { main { margin: 0; border-radius: 0; padding: 20px; } }
`;

function page(language: Language, title: string, accent: string, body: string): string {
  return `<!doctype html>
<html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE} :root { --accent: ${accent}; }</style></head>
<body><main>${body}</main></body></html>`;
}

function findingSentence(language: Language, finding: ClickedLinkCheck['findings'][number], redirects: number): string {
  const template = TEXT[language].symbols[finding.symbol];
  if (!template) return escapeHtml(finding.reason);
  return escapeHtml(template.replace('{like}', finding.like ?? '').replace('{n}', String(redirects)));
}

export function warningPage(language: Language, check: ClickedLinkCheck, proceedHref: string | undefined): string {
  const text = TEXT[language];
  const redirects = check.hops.length - 1;
  const shown = check.findings.filter((f) => f.score > 0);
  const destination = check.hops[check.hops.length - 1]!;
  const hops =
    redirects > 0
      ? `<h2>${text.through}</h2><ol class="hops">${check.hops
          .slice(0, -1)
          .slice(0, 10)
          .map((hop) => `<li>${escapeHtml(hop.slice(0, 500))}</li>`)
          .join('')}</ol>`
      : '';
  const way = proceedHref
    ? `<a class="proceed" href="${escapeHtml(proceedHref)}" rel="noreferrer noopener">${text.openAnyway}</a>`
    : `<span class="secondary">${text.notAllowed}</span>`;
  return page(
    language,
    text.warningTitle,
    '#c50f1f',
    `<h1>${text.warningTitle}</h1><p>${text.warningIntro}</p><ul>${shown.map((f) => `<li>${findingSentence(language, f, redirects)}</li>`).join('')}</ul>` +
      `<h2>${text.destination}</h2>${addressHtml(destination)}${hops}` +
      `<p class="secondary">${text.stay}</p><div class="actions">${way}</div>`,
  );
}

function refusedPage(language: Language, why: 'tampered' | 'malformed' | 'unknownTenant'): string {
  const text = TEXT[language];
  return page(language, text.refusedTitle, '#616161', `<h1>${text.refusedTitle}</h1><p>${text[why]}</p>`);
}

/** No script, no frames, nothing loaded from elsewhere, and no referrer that would carry the token on. */
function securePage(reply: FastifyReply, status: number): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
}

export const clickRoutes: FastifyPluginAsync<ClickRoutesOptions> = async (app, options) => {
  const policyOf = async (tenantId: string, name: string | undefined): Promise<GuardPolicy> => {
    const named = name ? (await options.policies.policiesOf(tenantId)).find((p) => p.name === name) : undefined;
    return named ?? options.policies.policyFor({ tenantId, mailFrom: '', recipients: [] });
  };
  const trace = async (tenantId: string, messageId: string, detail: Record<string, unknown>) => {
    try {
      await withTenants(options.db, tenantId, (tx) => recordTrace(tx, { messageId, tenantId, step: 'link_clicked', detail }));
    } catch (error) {
      options.logger.warn({ err: error, messageId }, 'a link click could not be recorded in the trace');
    }
  };

  app.get<{ Params: { token: string }; Querystring: { go?: string } }>(
    '/l/:token',
    {
      schema: {
        params: { type: 'object', properties: { token: { type: 'string', maxLength: 8192 } }, required: ['token'] },
        querystring: { type: 'object', properties: { go: { type: 'string', enum: ['1'] } }, additionalProperties: false },
      },
    },
    async (request, reply) => {
      const language = readerLanguage(request.headers['accept-language']);
      let claims;
      try {
        claims = await options.clickLinks.read(request.params.token);
      } catch (error) {
        if (!(error instanceof ClickLinkRefused)) throw error;
        options.logger.warn({ why: error.why }, 'a click link was refused');
        return securePage(reply, 400).send(refusedPage(language, error.why));
      }
      const tenant = options.directory.tenantById(claims.tenantId);
      if (!tenant) return securePage(reply, 410).send(refusedPage(language, 'unknownTenant'));
      const policy = await policyOf(claims.tenantId, claims.policy);
      const onward = async (status: 'opened' | 'opened after warning', check?: ClickedLinkCheck) => {
        await trace(claims.tenantId, claims.messageId, {
          url: claims.url.slice(0, 500),
          outcome: status,
          ...(check ? { destination: check.hops[check.hops.length - 1]!.slice(0, 500), symbols: check.findings.map((f) => f.symbol) } : {}),
        });
        return reply.code(302).header('location', claims.url).header('referrer-policy', 'no-referrer').header('cache-control', 'no-store').send();
      };
      if (request.query.go === '1' && policy.modules.links.clickThrough) return onward('opened after warning');

      const check = await checkClickedLink(claims.url, {
        tenant,
        policy,
        ...(options.follower ? { follower: options.follower } : {}),
        signal: AbortSignal.timeout(options.followTimeoutMs + 500),
      });
      if (!check.suspicious) return onward('opened', check);
      await trace(claims.tenantId, claims.messageId, {
        url: claims.url.slice(0, 500),
        outcome: 'warned',
        destination: check.hops[check.hops.length - 1]!.slice(0, 500),
        symbols: check.findings.map((f) => f.symbol),
      });
      const proceed = policy.modules.links.clickThrough ? `/l/${request.params.token}?go=1` : undefined;
      return securePage(reply, 200).send(warningPage(language, check, proceed));
    },
  );
};
