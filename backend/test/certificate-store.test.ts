/**
 * The public certificate store on a real gateway, with certificates OpenSSL makes: imported as PEM, DER,
 * a PKCS#7 bundle and a PKCS#12 file with its password (a wrong or missing password is refused by name);
 * each address the certificate names gets it; a different certificate for an address that has one is kept
 * beside it and reported as a change; search, export as PEM (the same bytes), deletion; every import,
 * change and deletion is audited; another tenant sees nothing of it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { auditLog } from '../src/db/schema.ts';
import type { Gateway } from '../src/gateway.ts';
import { readCertificates } from '../src/certs/certificate-store.ts';
import { createTestDatabase, ownerDb, type TestDatabase } from './support/database.ts';
import { MailPeer } from './support/mail-peer.ts';
import { ACME_API_TOKEN, acmeTenant, globexTenant, startTestGateway } from './support/test-gateway.ts';

const GLOBEX_TOKEN = 'globex-test-token-0123456789abcdef';

/** A self-signed certificate for the addresses, made by OpenSSL in `folder`; answers the file names. */
function makeCertificate(folder: string, name: string, addresses: string[], days = 30): { pem: string; der: string; key: string } {
  const key = join(folder, `${name}.key`);
  const pem = join(folder, `${name}.pem`);
  const der = join(folder, `${name}.der`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', pem, '-days', String(days),
    '-subj', `/CN=${name}/emailAddress=${addresses[0]}`, '-addext', `subjectAltName=${addresses.map((a) => `email:${a}`).join(',')}`,
  ], { stdio: 'pipe' });
  execFileSync('openssl', ['x509', '-in', pem, '-outform', 'DER', '-out', der]);
  return { pem, der, key };
}

function fingerprintOf(pemFile: string): string {
  return execFileSync('openssl', ['x509', '-in', pemFile, '-noout', '-fingerprint', '-sha256']).toString().split('=')[1]!.trim().replaceAll(':', '').toLowerCase();
}

describe('the public certificate store', () => {
  let database: TestDatabase;
  let gateway: Gateway;
  let mailServer: MailPeer;
  let folder: string;
  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, options: { body?: Buffer | string; type?: string; token?: string; headers?: Record<string, string> } = {}) =>
    gateway.http.inject({
      method,
      url: `/api/admin/certificates${url}`,
      headers: { authorization: `Bearer ${options.token ?? ACME_API_TOKEN}`, ...(options.type ? { 'content-type': options.type } : {}), ...(options.headers ?? {}) },
      ...(options.body === undefined ? {} : { payload: options.body }),
    });

  before(async () => {
    folder = mkdtempSync(join(tmpdir(), 'sealpost-certs-'));
    database = await createTestDatabase();
    mailServer = await MailPeer.start();
    gateway = await startTestGateway(database, [acmeTenant(mailServer.port), { ...globexTenant(mailServer.port), apiTokens: [{ name: 'tests', token: GLOBEX_TOKEN }] }]);
  });

  after(async () => {
    await gateway.stop();
    await mailServer.close();
    await database.cleanup();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a PEM certificate is stored for every address it names, and its PEM export is the same certificate', async () => {
    const bob = makeCertificate(folder, 'bob', ['bob@partner.example', 'Bob.Sales@Partner.example']);
    const answer = await api('POST', '/', { body: readFileSync(bob.pem), type: 'application/x-pem-file' });
    assert.equal(answer.statusCode, 201, answer.body);
    const imported = answer.json().imported as Array<{ id: string; address: string; outcome: string; fingerprint: string }>;
    assert.deepEqual(imported.map((i) => [i.address, i.outcome]), [['bob@partner.example', 'added'], ['bob.sales@partner.example', 'added']]);
    assert.equal(imported[0]!.fingerprint, fingerprintOf(bob.pem));

    const exported = await api('GET', `/${imported[0]!.id}`, { headers: { accept: 'application/x-pem-file' } });
    assert.equal(exported.statusCode, 200);
    assert.equal(exported.headers['content-type'], 'application/x-pem-file');
    const back = join(folder, 'exported.pem');
    writeFileSync(back, exported.body);
    assert.equal(fingerprintOf(back), fingerprintOf(bob.pem));

    const again = await api('POST', '/', { body: readFileSync(bob.der), type: 'application/pkix-cert' });
    assert.deepEqual((again.json().imported as Array<{ outcome: string }>).map((i) => i.outcome), ['known', 'known'], 'the same certificate as DER is known already');
  });

  test('a PKCS#7 bundle and a PKCS#12 file with its password are read; a wrong or missing password is refused by name', async () => {
    const carol = makeCertificate(folder, 'carol', ['carol@partner.example']);
    const dave = makeCertificate(folder, 'dave', ['dave@supplier.example']);
    const p7b = join(folder, 'bundle.p7b');
    execFileSync('openssl', ['crl2pkcs7', '-nocrl', '-certfile', carol.pem, '-certfile', dave.pem, '-outform', 'DER', '-out', p7b]);
    const bundle = await api('POST', '/', { body: readFileSync(p7b), type: 'application/x-pkcs7-certificates' });
    assert.equal(bundle.statusCode, 201, bundle.body);
    assert.deepEqual((bundle.json().imported as Array<{ address: string }>).map((i) => i.address).sort(), ['carol@partner.example', 'dave@supplier.example']);

    const erin = makeCertificate(folder, 'erin', ['erin@partner.example']);
    const p12 = join(folder, 'erin.p12');
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', erin.key, '-in', erin.pem, '-passout', 'pass:s3cret', '-out', p12]);
    const wrong = await api('POST', '/', { body: readFileSync(p12), type: 'application/x-pkcs12', headers: { 'x-sealpost-password': 'nope' } });
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().title, 'Wrong password');
    const missing = await api('POST', '/', { body: readFileSync(p12), type: 'application/x-pkcs12' });
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json().detail, /needs its password/);
    const right = await api('POST', '/', { body: readFileSync(p12), type: 'application/x-pkcs12', headers: { 'x-sealpost-password': 's3cret' } });
    assert.equal(right.statusCode, 201, right.body);
    assert.deepEqual((right.json().imported as Array<{ address: string }>).map((i) => i.address), ['erin@partner.example']);

    for (const [body, detail] of [
      ['just some text', /no certificate, PKCS#7 bundle or PKCS#12 file/],
      ['-----BEGIN CERTIFICATE-----\nAAAA', /has no END line/],
      ['-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /holds no CERTIFICATE or PKCS7 section/],
    ] as const) {
      const refused = await api('POST', '/', { body, type: 'text/plain' });
      assert.equal(refused.statusCode, 400, body);
      assert.match(refused.json().detail, detail);
    }
    assert.throws(() => readCertificates(Buffer.alloc(0)), /holds no certificate/);
  });

  test('a different certificate for an address that has one is kept beside it as a change, and the change is audited', async () => {
    const first = makeCertificate(folder, 'frank-1', ['frank@partner.example']);
    const second = makeCertificate(folder, 'frank-2', ['frank@partner.example']);
    await api('POST', '/', { body: readFileSync(first.pem), type: 'application/x-pem-file' });
    const changed = await api('POST', '/', { body: readFileSync(second.pem), type: 'application/x-pem-file' });
    const [result] = changed.json().imported as Array<{ outcome: string; previousFingerprints: string[]; id: string }>;
    assert.equal(result!.outcome, 'changed');
    assert.deepEqual(result!.previousFingerprints, [fingerprintOf(first.pem)]);

    const listed = (await api('GET', '/?search=frank@')).json().certificates as Array<{ fingerprint: string; replacesFingerprint?: string; valid: boolean }>;
    assert.deepEqual(listed.map((c) => c.fingerprint), [fingerprintOf(first.pem), fingerprintOf(second.pem)], 'both are kept');
    assert.equal(listed[1]!.replacesFingerprint, fingerprintOf(first.pem));
    assert.ok(listed.every((c) => c.valid));
    const valid = await gateway.certificates.validFor(gateway.directory.allTenants().find((t) => t.name === 'Acme')!.id, 'Frank@Partner.example');
    assert.equal(valid[0]!.fingerprint, fingerprintOf(second.pem), 'the most recently seen first');

    const actions = (await ownerDb(gateway.database.db).select({ action: auditLog.action, subject: auditLog.subjectId }).from(auditLog).where(eq(auditLog.subjectId, result!.id))).map((a) => a.action);
    assert.deepEqual(actions.sort(), ['certificate_added', 'certificate_changed']);
  });

  test('a certificate is deleted with an audit entry, and another tenant sees none of the store', async () => {
    const grace = makeCertificate(folder, 'grace', ['grace@partner.example']);
    const [added] = (await api('POST', '/', { body: readFileSync(grace.pem), type: 'application/x-pem-file' })).json().imported as Array<{ id: string }>;
    const otherTenant = await api('GET', '/', { token: GLOBEX_TOKEN });
    assert.equal(otherTenant.statusCode, 200);
    assert.deepEqual(otherTenant.json().certificates, []);
    assert.equal((await api('GET', `/${added!.id}`, { token: GLOBEX_TOKEN })).statusCode, 404);
    assert.equal((await api('DELETE', `/${added!.id}`, { token: GLOBEX_TOKEN })).statusCode, 404);

    assert.equal((await api('DELETE', `/${added!.id}`)).statusCode, 204);
    assert.equal((await api('GET', `/${added!.id}`)).statusCode, 404);
    const actions = (await ownerDb(gateway.database.db).select({ action: auditLog.action }).from(auditLog).where(eq(auditLog.subjectId, added!.id))).map((a) => a.action);
    assert.deepEqual(actions.sort(), ['certificate_added', 'certificate_deleted']);
    assert.equal((await api('GET', '/', { token: 'wrong' })).statusCode, 401);
  });
});
