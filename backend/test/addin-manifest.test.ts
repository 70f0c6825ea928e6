import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DOMParser, type Element } from '@xmldom/xmldom';
import officeAddinManifest from 'office-addin-manifest';
import { ADDIN_MANIFEST_PATH } from '../../common/src/addin-api.ts';
import { SECURE_PANE_COMMAND_ID, SEND_SECURELY_COMMAND_ID } from '../../addin/src/commands/send-check.ts';
import { manifestContentHash, rewriteManifestUrls } from '../src/http/addin-manifest.ts';
import type { Gateway } from '../src/gateway.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { acmeTenant, startTestGateway } from './support/test-gateway.ts';

const repositoryManifest = new URL('../../manifest.xml', import.meta.url);
const PLACEHOLDER_ORIGIN = 'https://sealpost.example.com';
const APPFOROFFICE = 'http://schemas.microsoft.com/office/appforoffice/1.1';
const BASIC_TYPES = 'http://schemas.microsoft.com/office/officeappbasictypes/1.0';
const OVERRIDES_1_0 = 'http://schemas.microsoft.com/office/mailappversionoverrides';
const OVERRIDES_1_1 = 'http://schemas.microsoft.com/office/mailappversionoverrides/1.1';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** The children of <OfficeApp xsi:type="MailApp"> in the order of the manifest schema. */
const MAIL_APP_ORDER = [
  'Id', 'AlternateId', 'Version', 'ProviderName', 'DefaultLocale', 'DisplayName', 'Description', 'IconUrl',
  'HighResolutionIconUrl', 'SupportUrl', 'AppDomains', 'Hosts', 'Requirements', 'FormSettings', 'Permissions',
  'Rule', 'DisableEntityHighlighting', 'VersionOverrides',
];
const MAIL_APP_REQUIRED = ['Id', 'Version', 'ProviderName', 'DefaultLocale', 'DisplayName', 'Description', 'IconUrl',
  'HighResolutionIconUrl', 'SupportUrl', 'AppDomains', 'Hosts', 'Requirements', 'FormSettings', 'Permissions', 'Rule', 'VersionOverrides'];
const OVERRIDES_ORDER = ['Description', 'Requirements', 'Hosts', 'Resources', 'VersionOverrides', 'WebApplicationInfo', 'EquivalentAddins', 'ExtendedPermissions'];
const RESOURCES_ORDER = ['Images', 'Urls', 'ShortStrings', 'LongStrings'];
/** Which resource group each referencing element must point into. */
const RESID_GROUPS: Record<string, string> = {
  Image: 'Images', SourceLocation: 'Urls', FunctionFile: 'Urls', Runtime: 'Urls', Override: 'Urls',
  Label: 'ShortStrings', Title: 'ShortStrings', Description: 'LongStrings',
};

function parseStrictly(xml: string) {
  const document = new DOMParser({
    onError: (level, message) => {
      if (level !== 'warning') throw new Error(`not well-formed XML: ${message}`);
    },
  }).parseFromString(xml, 'text/xml');
  return document.documentElement!;
}

const children = (element: Element): Element[] =>
  Array.from(element.childNodes).filter((n): n is Element => n.nodeType === 1);
const child = (element: Element, name: string): Element => {
  const found = children(element).find((c) => c.localName === name);
  assert.ok(found, `<${element.localName}> has a <${name}>`);
  return found;
};
const descendants = (element: Element, name?: string): Element[] =>
  Array.from(element.getElementsByTagName('*')).filter((e) => !name || e.localName === name) as Element[];

function assertInOrder(element: Element, order: string[]) {
  let last = -1;
  for (const c of children(element)) {
    const index = order.indexOf(c.localName!);
    assert.ok(index >= 0, `<${c.localName}> is allowed in <${element.localName}>`);
    assert.ok(index >= last, `<${c.localName}> comes after the elements before it in <${element.localName}> (schema order)`);
    last = index;
  }
}

function resources(overrides: Element) {
  const groups = new Map<string, Map<string, Element>>();
  const resourcesElement = child(overrides, 'Resources');
  assertInOrder(resourcesElement, RESOURCES_ORDER);
  for (const group of children(resourcesElement)) {
    groups.set(group.localName!, new Map(children(group).map((r) => [r.getAttribute('id')!, r])));
  }
  return groups;
}

/** Every check Outlook and the admin center make that can be made offline; returns the parts tests look at. */
function checkManifest(xml: string, origin: string) {
  const root = parseStrictly(xml);
  assert.equal(root.localName, 'OfficeApp');
  assert.equal(root.namespaceURI, APPFOROFFICE);
  assert.equal(root.getAttributeNS(XSI, 'type'), 'MailApp');
  assertInOrder(root, MAIL_APP_ORDER);
  for (const name of MAIL_APP_REQUIRED) child(root, name);

  assert.match(child(root, 'Id').textContent!, /^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i);
  const version = child(root, 'Version').textContent!;
  assert.match(version, /^\d{1,5}\.\d{1,5}\.\d{1,5}\.\d{1,5}$/);
  assert.equal(child(root, 'ProviderName').textContent, 'Sealpost');
  assert.equal(child(root, 'DefaultLocale').textContent, 'en-US');
  for (const [name, max] of [['DisplayName', 125], ['Description', 250]] as const) {
    const element = child(root, name);
    const values = [element.getAttribute('DefaultValue')!, ...children(element).map((o) => o.getAttribute('Value')!)];
    for (const value of values) assert.ok(value.length > 0 && value.length <= max, `${name} "${value}" is 1–${max} characters`);
    assert.deepEqual(children(element).map((o) => o.getAttribute('Locale')), ['de-DE'], `${name} has a German override`);
  }
  for (const name of ['IconUrl', 'HighResolutionIconUrl', 'SupportUrl']) {
    assert.ok(child(root, name).getAttribute('DefaultValue')!.startsWith(`${origin}/`), `${name} is on ${origin}`);
  }
  assert.ok(children(child(root, 'AppDomains')).some((d) => d.textContent === origin), 'AppDomains has the public origin');
  assert.equal(child(child(root, 'Hosts'), 'Host').getAttribute('Name'), 'Mailbox');
  const baseSet = child(child(child(root, 'Requirements'), 'Sets'), 'Set');
  assert.equal(baseSet.getAttribute('Name'), 'Mailbox');
  assert.ok(Number(baseSet.getAttribute('MinVersion')) >= 1.1);
  const form = child(child(root, 'FormSettings'), 'Form');
  assert.equal(form.getAttributeNS(XSI, 'type'), 'ItemEdit');
  assert.equal(child(child(form, 'DesktopSettings'), 'SourceLocation').getAttribute('DefaultValue'), `${origin}/addin/taskpane.html`);
  assert.equal(child(root, 'Permissions').textContent, 'ReadWriteItem');
  const rule = child(root, 'Rule');
  assert.ok(
    descendants(rule, 'Rule').concat(rule).some((r) => r.getAttributeNS(XSI, 'type') === 'ItemIs' && r.getAttribute('ItemType') === 'Message' && r.getAttribute('FormType') === 'Edit'),
    'the add-in activates on messages being composed',
  );

  // Every address is https on the public origin; namespace names are not addresses.
  let addresses = 0;
  for (const element of [root, ...descendants(root)]) {
    for (const attribute of Array.from(element.attributes)) {
      if (attribute.name === 'xmlns' || attribute.name.startsWith('xmlns:')) continue;
      if (/^[a-z]+:\/\//i.test(attribute.value)) {
        addresses++;
        assert.ok(attribute.value.startsWith(`${origin}/`), `${element.localName}@${attribute.name} = ${attribute.value} is on ${origin}`);
      }
    }
    if (children(element).length === 0 && /^[a-z]+:\/\//i.test(element.textContent ?? '')) {
      addresses++;
      assert.ok(element.textContent === origin || element.textContent!.startsWith(`${origin}/`), `${element.localName} ${element.textContent} is on ${origin}`);
    }
  }
  assert.ok(origin.startsWith('https://'));
  assert.ok(addresses >= 17, `${addresses} addresses checked`);

  // VersionOverrides: 1.0 for Mailbox 1.8 (internet headers), with 1.1 inside for Mailbox 1.12 (launch event).
  const outer = child(root, 'VersionOverrides');
  assert.equal(outer.namespaceURI, OVERRIDES_1_0);
  assert.equal(outer.getAttributeNS(XSI, 'type'), 'VersionOverridesV1_0');
  const inner = child(outer, 'VersionOverrides');
  assert.equal(inner.namespaceURI, OVERRIDES_1_1);
  assert.equal(inner.getAttributeNS(XSI, 'type'), 'VersionOverridesV1_1');
  assert.equal(children(outer).at(-1), inner, 'the 1.1 overrides are the last child of the 1.0 overrides');
  const minimumOf = (overrides: Element) => {
    const sets = child(child(overrides, 'Requirements'), 'Sets');
    assert.equal(sets.namespaceURI, BASIC_TYPES);
    assert.equal(child(sets, 'Set').getAttribute('Name'), 'Mailbox');
    return sets.getAttribute('DefaultMinVersion');
  };
  assert.equal(minimumOf(outer), '1.8');
  assert.equal(minimumOf(inner), '1.12');

  const urlOf = new Map<Element, (resid: string) => string>();
  for (const overrides of [outer, inner]) {
    assertInOrder(overrides, OVERRIDES_ORDER);
    const groups = resources(overrides);
    for (const group of ['ShortStrings', 'LongStrings']) {
      for (const [id, string] of groups.get(group) ?? []) {
        const german = children(string).find((o) => o.getAttribute('Locale') === 'de-DE');
        assert.ok(german?.getAttribute('Value'), `${id} has a German text`);
        const max = group === 'ShortStrings' ? 125 : 250;
        assert.ok(string.getAttribute('DefaultValue')!.length <= max && german!.getAttribute('Value')!.length <= max, `${id} fits ${max} characters`);
      }
    }
    // Every resid is defined, in the group its element needs, within the same overrides.
    const insideInner = new Set(descendants(inner));
    const referencing = descendants(overrides).filter((e) => e.hasAttribute('resid') && (overrides === inner || !insideInner.has(e)));
    for (const element of referencing) {
      const resid = element.getAttribute('resid')!;
      assert.ok(resid.length <= 32, `resid ${resid} has at most 32 characters`);
      const group = RESID_GROUPS[element.localName!];
      assert.ok(group, `<${element.localName} resid> is a known reference`);
      assert.ok(groups.get(group)?.has(resid), `resid ${resid} of <${element.localName}> is defined in ${group}`);
    }
    urlOf.set(overrides, (resid) => groups.get('Urls')!.get(resid)!.getAttribute('DefaultValue')!);

    const host = child(child(overrides, 'Hosts'), 'Host');
    assert.equal(host.getAttributeNS(XSI, 'type'), 'MailHost');
    const desktop = child(host, 'DesktopFormFactor');
    assert.equal(children(desktop)[0]!.localName, 'FunctionFile', 'FunctionFile comes first in DesktopFormFactor');
    assert.equal(urlOf.get(overrides)!(child(desktop, 'FunctionFile').getAttribute('resid')!), `${origin}/addin/commands.html`);
    const surface = children(desktop).find((e) => e.getAttributeNS(XSI, 'type') === 'MessageComposeCommandSurface');
    assert.ok(surface, 'a button on the compose ribbon');
    const secure = descendants(surface, 'Control').find((c) => c.getAttribute('id') === SECURE_PANE_COMMAND_ID);
    assert.ok(secure, 'the Secure button');
    assert.equal(groups.get('ShortStrings')!.get(child(secure, 'Label').getAttribute('resid')!)!.getAttribute('DefaultValue'), 'Secure');
    const action = child(secure, 'Action');
    assert.equal(action.getAttributeNS(XSI, 'type'), 'ShowTaskpane');
    assert.equal(urlOf.get(overrides)!(child(action, 'SourceLocation').getAttribute('resid')!), `${origin}/addin/taskpane.html`);
    const supertip = child(secure, 'Supertip');
    child(supertip, 'Title');
    child(supertip, 'Description');
    const sizes = children(child(secure, 'Icon')).map((image) => image.getAttribute('size'));
    assert.deepEqual(sizes, ['16', '32', '80']);
  }

  // The launch event: OnMessageSend in Smart Alerts' prompt mode (the sender may still send as is), run from
  // commands.html or commands.js.
  const innerHost = child(child(inner, 'Hosts'), 'Host');
  assert.deepEqual(children(innerHost).map((e) => e.localName), ['Runtimes', 'DesktopFormFactor']);
  const runtime = child(child(innerHost, 'Runtimes'), 'Runtime');
  const launch = children(child(innerHost, 'DesktopFormFactor')).find((e) => e.getAttributeNS(XSI, 'type') === 'LaunchEvent');
  assert.ok(launch, 'a LaunchEvent extension point');
  const event = child(child(launch, 'LaunchEvents'), 'LaunchEvent');
  assert.equal(event.getAttribute('Type'), 'OnMessageSend');
  assert.equal(event.getAttribute('SendMode'), 'PromptUser');
  assert.equal(event.getAttribute('FunctionName'), 'onMessageSendHandler');
  assert.equal(child(launch, 'SourceLocation').getAttribute('resid'), runtime.getAttribute('resid'));
  assert.equal(urlOf.get(inner)!(runtime.getAttribute('resid')!), `${origin}/addin/commands.html`);
  const override = child(runtime, 'Override');
  assert.equal(override.getAttribute('type'), 'javascript');
  assert.equal(urlOf.get(inner)!(override.getAttribute('resid')!), `${origin}/addin/commands.js`);
  const sendSecurely = descendants(inner, 'Control').find((c) => c.getAttribute('id') === SEND_SECURELY_COMMAND_ID);
  assert.ok(sendSecurely, 'the Smart Alerts dialog can run "Send securely"');
  assert.equal(child(sendSecurely, 'Action').getAttributeNS(XSI, 'type'), 'ExecuteFunction');
  const functionNames = [event.getAttribute('FunctionName')!, child(child(sendSecurely, 'Action'), 'FunctionName').textContent!];

  const images = descendants(root).filter((e) => e.localName === 'Image' && e.hasAttribute('DefaultValue')).map((e) => e.getAttribute('DefaultValue')!);
  const icons = [...new Set([child(root, 'IconUrl').getAttribute('DefaultValue')!, child(root, 'HighResolutionIconUrl').getAttribute('DefaultValue')!, ...images])];
  return { version, functionNames, icons };
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string | URL): [number, number] {
  const png = readFileSync(file);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], `${file} is a PNG`);
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

describe('the Outlook add-in manifest', () => {
  const xml = readFileSync(repositoryManifest, 'utf8');

  test('the checked-in manifest is well-formed and has every element Outlook and the admin center require, in schema order', () => {
    checkManifest(xml, PLACEHOLDER_ORIGIN);
  });

  test('a manifest with an element out of order, a missing resource or a foreign address is caught', () => {
    const swapped = xml.replace(/(<ProviderName>[^<]*<\/ProviderName>)\s*(<DefaultLocale>[^<]*<\/DefaultLocale>)/, '$2$1');
    assert.throws(() => checkManifest(swapped, PLACEHOLDER_ORIGIN), /schema order/);
    assert.throws(() => checkManifest(xml.replace('<bt:Image id="Icon.32x32"', '<bt:Image id="Icon.33x33"'), PLACEHOLDER_ORIGIN), /Icon\.32x32/);
    assert.throws(() => checkManifest(xml.replace('https://sealpost.example.com/portal/', 'https://elsewhere.test/help'), PLACEHOLDER_ORIGIN), /SupportUrl is on/);
    assert.throws(() => checkManifest(xml.replace('https://sealpost.example.com/addin/assets/icon-80.png', 'http://elsewhere.test/icon-80.png'), PLACEHOLDER_ORIGIN), /elsewhere\.test/);
    assert.throws(() => checkManifest(xml.replace('</OfficeApp>', ''), PLACEHOLDER_ORIGIN), /well-formed/);
  });

  test('Office\'s own manifest reader reads it as an Outlook add-in', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'sealpost-manifest-'));
    try {
      const file = join(folder, 'manifest.xml');
      writeFileSync(file, xml);
      const info = await officeAddinManifest.OfficeAddinManifest.readManifestFile(file);
      assert.equal(info.officeAppType, 'MailApp');
      assert.deepEqual(info.hosts, ['Mailbox']);
      assert.equal(info.displayName, 'Sealpost');
      assert.equal(info.providerName, 'Sealpost');
      assert.equal(info.permissions, 'ReadWriteItem');
      assert.equal(info.iconUrl, `${PLACEHOLDER_ORIGIN}/addin/assets/icon-64.png`);
      assert.deepEqual(info.appDomains, [PLACEHOLDER_ORIGIN]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test('the functions the manifest names are the ones the commands code registers', () => {
    const { functionNames } = checkManifest(xml, PLACEHOLDER_ORIGIN);
    const commands = readFileSync(new URL('../../addin/src/commands/main.ts', import.meta.url), 'utf8');
    for (const name of functionNames) assert.ok(commands.includes(`Office.actions.associate('${name}'`), `${name} is associated`);
  });

  test('every icon it names exists in addin/assets (and in the built add-in, dist/addin, when built) at its size', () => {
    const { icons } = checkManifest(xml, PLACEHOLDER_ORIGIN);
    assert.ok(icons.length >= 5);
    const built = new URL('../../dist/addin/assets/', import.meta.url);
    for (const url of icons) {
      const name = url.slice(`${PLACEHOLDER_ORIGIN}/addin/assets/`.length);
      const size = Number(/^icon-(\d+)\.png$/.exec(name)?.[1]);
      assert.ok(size > 0, `${url} names its size`);
      assert.deepEqual(pngSize(new URL(`../../addin/assets/${name}`, import.meta.url)), [size, size]);
      if (existsSync(built)) assert.deepEqual(pngSize(new URL(name, built)), [size, size], `dist/addin/assets/${name} is built`);
    }
  });

  test('rewriting for a public URL moves every address and nothing else', () => {
    const rewritten = rewriteManifestUrls(xml, 'https://mail.acme.test/ignored/path');
    checkManifest(rewritten, 'https://mail.acme.test');
    assert.equal(rewritten.replaceAll('https://mail.acme.test', PLACEHOLDER_ORIGIN), xml);
    assert.notEqual(manifestContentHash(rewritten), manifestContentHash(xml));
    assert.equal(manifestContentHash(xml.replace('<Version>1.0.0.0</Version>', '<Version>9.9.9.9</Version>')), manifestContentHash(xml));
  });
});

describe('the gateway serves the manifest for its public URL', () => {
  let database: TestDatabase;
  let mailServer: MailPeer;
  let gateway: Gateway | undefined;

  async function serveFor(publicUrl: string) {
    await gateway?.stop();
    gateway = await startTestGateway(database, [acmeTenant(mailServer.port)], { SEALPOST_PUBLIC_URL: publicUrl });
    return async () => {
      const response = await fetch(`http://127.0.0.1:${gateway!.httpPort}${ADDIN_MANIFEST_PATH}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^application\/xml/);
      assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="[^"]+\.xml"$/);
      return response.text();
    };
  }

  before(async () => {
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
  });
  after(async () => {
    await gateway?.stop();
    await mailServer.close();
    await database.cleanup();
  });

  test('every address uses the public origin, and the version holds until the content changes', async () => {
    const acme = await serveFor('https://mail.acme.test');
    const first = await acme();
    const { version } = checkManifest(first, 'https://mail.acme.test');
    assert.ok(!first.includes('sealpost.example.com'));
    assert.equal(checkManifest(await acme(), 'https://mail.acme.test').version, version, 'the same version on a second request');

    // Another gateway on the same database, serving another public URL: a higher version.
    const other = await serveFor('https://secure.globex.test');
    const otherVersion = checkManifest(await other(), 'https://secure.globex.test').version;
    assert.ok(compareVersions(otherVersion, version) > 0, `${otherVersion} is above ${version}`);

    // Back to the first URL: the content changed again, so the version rises again rather than going back.
    const again = await serveFor('https://mail.acme.test');
    const againVersion = checkManifest(await again(), 'https://mail.acme.test').version;
    assert.ok(compareVersions(againVersion, otherVersion) > 0, `${againVersion} is above ${otherVersion}`);

    // The launch-event script carries the public origin for classic Outlook's page-less runtime.
    // (npm test builds dist/addin before this file runs.)
    const script = await fetch(`http://127.0.0.1:${gateway!.httpPort}/addin/commands.js`);
    assert.equal(script.status, 200, 'dist/addin/commands.js is built (npm run build)');
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    const text = await script.text();
    assert.ok(text.startsWith('globalThis["__sealpostOrigin"] = "https://mail.acme.test";\n'), text.slice(0, 80));
    assert.ok(text.includes('onMessageSendHandler'), 'followed by the built launch-event code');

    // A restart with the same URL keeps the version.
    const restarted = await serveFor('https://mail.acme.test');
    assert.equal(checkManifest(await restarted(), 'https://mail.acme.test').version, againVersion);
  });
});

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
  return 0;
}
