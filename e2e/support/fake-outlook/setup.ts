/**
 * What the add-in's browser tests and benchmark share: a real gateway with Acme connected to a local
 * Entra-like issuer, the built task pane served by it, and pages whose office.js is the fake Outlook host.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from '../../../backend/test/support/database.ts';
import { LocalEntraIssuer } from '../../../backend/test/support/local-entra-issuer.ts';
import { MailPeer } from '../../../backend/test/support/mail-peer.ts';
import { acmeTenant, startBrowserGateway } from '../../../backend/test/support/test-gateway.ts';
import type { Gateway } from '../../../backend/src/gateway.ts';
import type { TenantDefinition } from '../../../backend/src/config.ts';

export const ADDIN_DIST = fileURLToPath(new URL('../../../dist/addin', import.meta.url));
export const FAKE_OFFICE_JS = fileURLToPath(new URL('./office.js', import.meta.url));
export const ACME_APPLICATION_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
export const ACME_ENTRA_TENANT = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
export const ALICE_OBJECT_ID = '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f';

/** Stops with a message that says what to run when the task pane was not built. */
export function requireBuiltAddin(): void {
  if (!existsSync(`${ADDIN_DIST}/taskpane.html`)) {
    throw new Error(
      'dist/addin/taskpane.html is missing: build the add-in first with ' +
        '"flock /tmp/sealpost-build.lock npm run build -- --config-name addin" (or "npm run build").',
    );
  }
}

export interface FakeOutlookConfig {
  host?: string | null;
  displayLanguage?: string;
  userProfile?: { emailAddress: string; displayName?: string };
  requirementSets?: { name: string; version: string }[];
  accessToken?: string;
  accessTokenError?: { code: number; message: string };
  failInternetHeaders?: boolean;
  item?: { subject?: string; to?: string[]; cc?: string[]; bcc?: string[]; internetHeaders?: Record<string, string> };
}

/** Serves the fake host in place of Microsoft's office.js and configures it before every load of the page. */
export async function useFakeOutlook(page: Page, config: FakeOutlookConfig): Promise<void> {
  const script = readFileSync(FAKE_OFFICE_JS, 'utf8');
  await page.route('https://appsforoffice.microsoft.com/**', (route) =>
    route.fulfill({ status: 200, contentType: 'application/javascript', body: script }),
  );
  await page.addInitScript((value) => {
    (window as unknown as { __fakeOutlook: unknown }).__fakeOutlook = value;
  }, config);
}

export interface AddinGateway {
  gateway: Gateway;
  issuer: LocalEntraIssuer;
  relay: MailPeer;
  tenantMailServer: MailPeer;
  /** http://127.0.0.1:<port>, also the gateway's public URL. */
  base: string;
  taskpaneUrl: string;
  /** An access token for alice@acme.test with the add-in API's audience, as Outlook would hand it over. */
  aliceToken(overrides?: Record<string, unknown>): string;
  /** A valid token from an Entra tenant that no Sealpost tenant allows. */
  foreignToken(): string;
  stop(): Promise<void>;
}

export async function startAddinGateway(
  options: { members?: { email: string; role: 'owner' | 'contact' }[]; tenant?: Partial<TenantDefinition> } = {},
): Promise<AddinGateway> {
  const database: TestDatabase = await createTestDatabase();
  const issuer = await LocalEntraIssuer.start();
  const tenantMailServer = await MailPeer.start();
  const relay = await MailPeer.start();
  const { gateway, origin: base } = await startBrowserGateway(
    database,
    [
      acmeTenant(tenantMailServer.port, {
        members: options.members ?? [{ email: 'alice@acme.test', role: 'owner' }],
        entra: { applicationId: ACME_APPLICATION_ID, tenantIds: [ACME_ENTRA_TENANT] },
        ...options.tenant,
      }),
    ],
    {
      SEALPOST_ENTRA_AUTHORITY: issuer.url,
      SEALPOST_RELAY: `smtp://127.0.0.1:${relay.port}`,
    },
  );
  // The audience Office hands over for the scope GET /api/addin-sign-in names: api://<host>/<application id>.
  const audience = `api://${new URL(base).host}/${ACME_APPLICATION_ID}`;
  return {
    gateway,
    issuer,
    relay,
    tenantMailServer,
    base,
    taskpaneUrl: `${base}/addin/taskpane.html`,
    aliceToken: (overrides = {}) =>
      issuer.sign(issuer.claims({ tid: ACME_ENTRA_TENANT, oid: ALICE_OBJECT_ID, aud: audience, email: 'alice@acme.test' }, overrides)),
    foreignToken: () => {
      const tid = randomUUID();
      return issuer.sign(issuer.claims({ tid, oid: randomUUID(), aud: audience, email: 'alice@acme.test' }));
    },
    async stop() {
      await gateway.stop();
      await tenantMailServer.close();
      await relay.close();
      await issuer.close();
      await database.cleanup();
    },
  };
}
