/**
 * The portal's sign-in with the organisation's Entra ID account, the whole round trip in real Chromium: the
 * start page's button, the real MSAL (auth code with PKCE) against a real OpenID issuer on loopback, the
 * return page, the gateway's checks of the ID token, and the console or inbox after it. Roles from the member
 * list, an app role and a group; a contact; magicLinkForAdmins off; a token of another Entra tenant refused on
 * the return page. German once; axe and no horizontal scrolling at 360 and 1280 px.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { BrowserContext, Page } from 'playwright-core';
import { auditLog, members, portalSessions } from '../backend/src/db/schema.ts';
import type { Gateway } from '../backend/src/gateway.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from '../backend/test/support/database.ts';
import { LocalEntraIssuer, type SignedInUser } from '../backend/test/support/local-entra-issuer.ts';
import { MailPeer } from '../backend/test/support/mail-peer.ts';
import { tokenOf } from '../backend/test/support/portal-mail.ts';
import { acmeTenant, startBrowserGateway } from '../backend/test/support/test-gateway.ts';
import { assertAccessible, checkWidths } from './support/accessibility.ts';
import { requireBuiltPortal } from './support/built-portal.ts';
import { launchChromium, type LaunchedChromium } from './support/chromium.ts';
import { routeEntraToIssuer } from './support/entra-route.ts';
import { consolePageNames, openConsolePage } from './support/portal-sign-in.ts';

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const FOREIGN_ENTRA = 'aa11bb22-cc33-4d44-8e55-ff6677889900';
const AUDITORS_GROUP = '5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c';
/** The https name browsers are sent to; the test routes it to the local issuer. */
const BROWSER_AUTHORITY = 'https://login.entra.test';

const OWNER = 'alice@acme.test';
const BUTTON = 'Sign in with your organisation account (Microsoft)';
const ALL_CONSOLE_PAGES = [
  'Overview',
  'Message trace',
  'Storage',
  'Audit log',
  'Mail policies',
  'Certificates',
  'OpenPGP',
  'Settings',
  'Members',
  'API tokens',
  'Exchange setup',
];

describe('portal sign-in with the organisation account (Entra ID) in the browser', () => {
  let database: TestDatabase;
  let issuer: LocalEntraIssuer;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let chromium: LaunchedChromium;
  let origin: string;
  let acmeId: string;
  const contexts: BrowserContext[] = [];

  /** Each address has one Entra account (object id) throughout: the gateway binds an address to the first. */
  const oids = new Map<string, string>();
  const user = (address: string, claims: Partial<SignedInUser> = {}): SignedInUser => {
    if (!oids.has(address)) oids.set(address, randomUUID());
    return { oid: oids.get(address)!, preferred_username: address, name: address, ...claims };
  };

  /** A fresh browser on the start page, its requests to the Entra authority carried to the local issuer. */
  async function startPage(locale = 'en-GB'): Promise<Page> {
    const context = await chromium.browser.newContext({ locale });
    contexts.push(context);
    await routeEntraToIssuer(context, BROWSER_AUTHORITY, issuer.url);
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(`${origin}/portal/`);
    return page;
  }

  /** Types the address and chooses the organisation sign-in; Entra signs `signedIn` in at once. */
  async function signInWithOrganisation(page: Page, address: string, signedIn: SignedInUser, button = BUTTON): Promise<void> {
    issuer.signedInUser = signedIn;
    await page.getByLabel(/^(Your work e-mail address|Ihre geschäftliche E-Mail-Adresse)/).fill(address);
    await page.getByRole('button', { name: button }).click();
  }

  async function signedIn(address: string, signedInAs: SignedInUser, landing: 'admin/overview' | 'threads'): Promise<Page> {
    const page = await startPage();
    await signInWithOrganisation(page, address, signedInAs);
    await page.waitForURL(`${origin}/portal/${landing}`);
    await page.getByText(`Signed in as ${address}`).waitFor();
    return page;
  }

  async function sessionsOf(address: string) {
    return ownerDb(gateway.database.db)
      .select()
      .from(portalSessions)
      .where(and(eq(portalSessions.tenantId, acmeId), eq(portalSessions.address, address)));
  }

  /** Changes the portal settings with the session of this page, as the Settings page does. */
  async function changeSettings(page: Page, change: Record<string, unknown>): Promise<number> {
    return page.evaluate(async (body) => {
      const state = await (await fetch('/api/portal/session/state')).json();
      const answer = await fetch('/api/portal/admin/settings', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'x-sealpost-csrf': state.session.csrfToken },
        body: JSON.stringify(body),
      });
      return answer.status;
    }, change);
  }

  before(async () => {
    requireBuiltPortal();
    database = await createTestDatabase();
    issuer = await LocalEntraIssuer.start();
    mailServer = await MailPeer.start();
    const tenant = acmeTenant(mailServer.port, {
      members: [
        { email: OWNER, role: 'owner' },
        { email: 'carol@acme.test', role: 'contact' },
      ],
      entra: {
        applicationId: APP_ID,
        tenantIds: [ACME_ENTRA],
        portalSignIn: {
          appRoles: { 'Sealpost.Analyst': 'analyst', 'Sealpost.Operator': 'operator' },
          groups: { [AUDITORS_GROUP]: 'auditor' },
        },
      },
    });
    ({ gateway, origin } = await startBrowserGateway(database, [tenant], {
      SEALPOST_ENTRA_AUTHORITY: issuer.url,
      SEALPOST_ENTRA_BROWSER_AUTHORITY: BROWSER_AUTHORITY,
    }));
    acmeId = gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id;
    chromium = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await chromium?.close();
    await gateway?.stop();
    await mailServer?.close();
    await issuer?.close();
    await database?.cleanup();
  });

  test('an owner signs in with the button, Entra asks with PKCE and the gateway\'s nonce, and the console opens with every page', async () => {
    const page = await startPage();
    await page.getByRole('button', { name: BUTTON }).waitFor();
    await checkWidths(page, 'entra-start');

    const alice = user(OWNER);
    await signInWithOrganisation(page, OWNER, alice);
    await page.waitForURL(`${origin}/portal/admin/overview`);
    await page.getByText(`Signed in as ${OWNER}`).waitFor();
    assert.deepEqual(await consolePageNames(page), ALL_CONSOLE_PAGES);

    const asked = issuer.authorizeRequests.at(-1)!;
    assert.equal(asked.client_id, APP_ID);
    assert.equal(asked.redirect_uri, `${origin}/portal/signed-in`);
    assert.equal(asked.response_type, 'code');
    assert.equal(asked.code_challenge_method, 'S256');
    assert.equal(asked.login_hint, OWNER);
    // offline_access is MSAL's own default (AAD protocol mode); the portal clears MSAL's cache after the sign-in.
    assert.deepEqual(asked.scope?.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile'], 'no scope beyond the sign-in');
    assert.ok(asked.nonce && asked.nonce.length > 20, 'the nonce the gateway signed');
    assert.deepEqual(issuer.refusedTokenRequests, [], 'the code was redeemed with its verifier');

    const [session] = await sessionsOf(OWNER);
    assert.equal(session?.signInMethod, 'entra');
    assert.equal(session?.role, 'owner');
    const [entry] = await ownerDb(gateway.database.db)
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.tenantId, acmeId), eq(auditLog.action, 'signed_in'), eq(auditLog.actorId, session!.id)));
    assert.equal((entry?.details as { channel?: string } | undefined)?.channel, 'entra');
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, OWNER));
    assert.equal(member?.entraObjectId, alice.oid, 'the owner is remembered by object id');
    const cookies = await page.context().cookies();
    assert.ok(cookies.some((c) => c.name === 'sealpost_session' && c.httpOnly));
    assert.ok(!cookies.some((c) => c.name === 'sealpost_entra_binding'), 'the sign-in binding is gone');
    assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('sealpost.portal.entra')).length), 0);
  });

  test('an app role makes an unlisted address an analyst, who joins the member list and sees the analyst\'s pages only', async () => {
    const page = await signedIn('nina@acme.test', user('nina@acme.test', { roles: ['Sealpost.Analyst', 'Unmapped'] }), 'admin/overview');
    assert.deepEqual(await consolePageNames(page), ['Overview', 'Message trace', 'Storage', 'Mail policies', 'Settings', 'Members', 'API tokens']);
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, 'nina@acme.test'));
    assert.equal(member?.source, 'entra');
    assert.equal(member?.role, 'analyst');
    assert.equal((await sessionsOf('nina@acme.test'))[0]?.role, 'analyst');
  });

  test('a group makes an auditor, who reads the audit log and nothing an auditor may not', async () => {
    const page = await signedIn('greta@acme.test', user('greta@acme.test', { groups: [randomUUID(), AUDITORS_GROUP] }), 'admin/overview');
    const offered = await consolePageNames(page);
    assert.deepEqual(offered, ['Overview', 'Message trace', 'Audit log', 'Mail policies', 'Settings', 'Members']);
    await openConsolePage(page, 'Audit log');
    const entries = page.getByRole('table', { name: 'Audit entries' });
    await entries.waitFor();
    await entries.locator('tbody tr', { hasText: 'greta@acme.test' }).first().waitFor();
  });

  test('an address of the organisation that is no member signs in as a contact and lands on the inbox, without a console', async () => {
    const page = await signedIn('zoe@acme.test', user('zoe@acme.test'), 'threads');
    assert.deepEqual(await consolePageNames(page), []);
    const status = await page.evaluate(() => fetch('/api/portal/admin/storage').then((r) => r.status));
    assert.equal(status, 403);
    const [member] = await ownerDb(gateway.database.db).select().from(members).where(eq(members.email, 'zoe@acme.test'));
    assert.equal(member, undefined, 'a contact is not added to the list');
  });

  test('with magicLinkForAdmins off an owner\'s mailed link is refused with the way in, and the organisation sign-in still opens the console', async () => {
    const owner = await signedIn(OWNER, user(OWNER), 'admin/overview');
    assert.equal(await changeSettings(owner, { magicLinkForAdmins: false }), 200);
    try {
      const page = await startPage();
      await page.getByLabel('Your work e-mail address').fill(OWNER);
      const start = mailServer.received.length;
      await page.getByRole('button', { name: 'E-mail me a sign-in link' }).click();
      const mail = (await mailServer.waitForMessages(start + 1)).slice(start).find((m) => m.recipients.includes(OWNER));
      assert.ok(mail, 'the link is still mailed');
      await page.goto(`${origin}/portal/open?token=${tokenOf(mail)}`);
      await page.getByRole('button', { name: 'Open message' }).click();
      await page.getByText('Your organisation lets members with a console role in only with their organisation account.', { exact: false }).waitFor();
      assert.ok(!(await page.context().cookies()).some((c) => c.name === 'sealpost_session'), 'no session from the link');

      await page.goto(`${origin}/portal/`);
      await signInWithOrganisation(page, OWNER, user(OWNER));
      await page.waitForURL(`${origin}/portal/admin/overview`);
      await page.getByText(`Signed in as ${OWNER}`).waitFor();
    } finally {
      assert.equal(await changeSettings(owner, { magicLinkForAdmins: null }), 200);
    }
  });

  test('a token of another Entra tenant ends on the return page with a clear refusal and no session, in English and German', async () => {
    const before = await sessionsOf(OWNER);
    const page = await startPage();
    await signInWithOrganisation(page, OWNER, user(OWNER, { tid: FOREIGN_ENTRA }));
    await page.waitForURL(`${origin}/portal/signed-in`);
    const refusal = page.getByText('This account belongs to another organisation than the one this portal serves.');
    await refusal.waitFor();
    await page.getByRole('link', { name: /start page/i }).waitFor();
    assert.ok(!(await page.context().cookies()).some((c) => c.name === 'sealpost_session'), 'no session');
    assert.equal((await sessionsOf(OWNER)).length, before.length, 'the gateway opened no session');
    await checkWidths(page, 'entra-callback-error');
    // The refusal follows the language chosen on the page.
    await page.getByRole('button', { name: 'Deutsch', exact: true }).click();
    await page.getByText('Dieses Konto gehört zu einer anderen Organisation als der, für die dieses Portal da ist.').waitFor();
    await page.getByRole('link', { name: 'Zurück zur Startseite' }).waitFor();

    // German from the start: the button and the refusal.
    const german = await startPage('de-DE');
    await signInWithOrganisation(german, OWNER, user(OWNER, { tid: FOREIGN_ENTRA }), 'Mit dem Konto Ihrer Organisation anmelden (Microsoft)');
    await german.waitForURL(`${origin}/portal/signed-in`);
    await german.getByText('Dieses Konto gehört zu einer anderen Organisation als der, für die dieses Portal da ist.').waitFor();
    await assertAccessible(german, 'the return page with a refusal in German');
    await checkWidths(german, 'entra-callback-error-de');
  });

  test('a sign-in Entra refuses (the user is not assigned to the application) ends on the return page with Entra\'s reason and no session', async () => {
    const page = await startPage();
    issuer.signedInUser = undefined;
    await page.getByLabel('Your work e-mail address').fill(OWNER);
    await page.getByRole('button', { name: BUTTON }).click();
    await page.waitForURL(`${origin}/portal/signed-in`);
    const refusal = page.getByText(/^The sign-in at Microsoft was not completed \(/);
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /access_denied/);
    assert.match(await refusal.innerText(), /AADSTS50105/);
    await assertAccessible(page, 'the return page after Entra refused');
    assert.ok(!(await page.context().cookies()).some((c) => c.name === 'sealpost_session'), 'no session');
  });
});
