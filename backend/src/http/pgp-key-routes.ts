/**
 * OpenPGP keys through the admin API, behind the tenant's admin API token (or a portal session):
 * - /api/admin/pgp-keys: outside correspondents' public keys — list and search, import (armored or binary;
 *   a secret key's public part only), export one armored, delete;
 * - /api/admin/member-pgp-keys: members' own key pairs — list (public keys only), generate, import a secret
 *   key (its passphrase in `X-Sealpost-Password`), the public key armored, export the key pair under a
 *   passphrase (owners only), delete.
 * Every change is audited; a key that differs from the one an address already has is kept beside it and
 * reported as a change.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { CertificateProblem } from '../certs/certificate-store.ts';
import { armoredPublicKey, readPgpKeys, type PgpKeyRow, type PgpKeyStore } from '../certs/pgp-keys.ts';
import type { MemberPgpKeys } from '../certs/pgp-member-keys.ts';
import type { Database } from '../db/client.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { certificateAuthentication, type CertificateRoutesOptions } from './certificate-routes.ts';
import { sendProblem } from './problem-details.ts';
import { idParams, addressQuery } from './shared-schemas.ts';

const MAX_UPLOAD_BYTES = 1024 * 1024;

/** Key files arrive as armored text or binary packets, read as bytes; store problems become problem details. */
function keyFiles(app: FastifyInstance): void {
  app.addContentTypeParser(
    ['application/pgp-keys', 'application/octet-stream', 'text/plain'],
    { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof CertificateProblem) return sendProblem(reply, { status: error.status, title: error.title, detail: error.message });
    throw error;
  });
}

const fileName = (address: string) => address.replace(/[^a-z0-9.@_-]/gi, '_');

function summary(row: PgpKeyRow, now = new Date()) {
  return {
    id: row.id,
    address: row.address,
    fingerprint: row.fingerprint,
    userIds: row.userIds,
    algorithm: row.algorithm,
    createdAt: row.keyCreatedAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    valid: !row.expiresAt || row.expiresAt > now,
    source: row.source,
    addedBy: row.addedBy,
    ...(row.preferEncrypt ? { preferEncrypt: row.preferEncrypt } : {}),
    ...(row.replacesFingerprint ? { replacesFingerprint: row.replacesFingerprint } : {}),
    firstSeenAt: row.firstSeenAt.toISOString(),
    lastSeenAt: row.lastSeenAt.toISOString(),
  };
}

export const pgpKeyRoutes: FastifyPluginAsync<{ db: Database; store: PgpKeyStore; authenticate?: CertificateRoutesOptions['authenticate'] }> = async (
  app,
  { db, store, authenticate },
) => {
  certificateAuthentication(app, db, authenticate);
  keyFiles(app);

  app.get<{ Querystring: { search?: string } }>(
    '/',
    { schema: { querystring: { type: 'object', properties: { search: { type: 'string', maxLength: 200 } }, additionalProperties: false } } },
    async (request) => ({ keys: (await store.list(request.tenantId!, request.query.search)).map((row) => summary(row)) }),
  );

  app.post<{ Body: Buffer }>('/', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      return sendProblem(reply, { status: 415, title: 'Not a key file', detail: 'send the OpenPGP key armored or binary (application/pgp-keys)' });
    }
    const parsed = await readPgpKeys(request.body);
    const imported = await store.add(request.tenantId!, parsed, { source: 'import', by: request.certificateActor!, clientIp: request.ip });
    return reply.code(201).send({ imported });
  });

  app.get<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    const row = await store.get(request.tenantId!, request.params.id);
    const armored = armoredPublicKey(row.keyData);
    if ((request.headers.accept ?? '').includes('application/pgp-keys')) {
      return reply.type('application/pgp-keys').header('content-disposition', `attachment; filename="${fileName(row.address)}.asc"`).send(armored);
    }
    return { ...summary(row), armored };
  });

  app.delete<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    await store.remove(request.tenantId!, request.params.id, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(204).send();
  });
};

export const memberPgpKeyRoutes: FastifyPluginAsync<{
  db: Database;
  keys: MemberPgpKeys;
  directory: TenantDirectory;
  authenticate?: CertificateRoutesOptions['authenticate'];
}> = async (app, { db, keys, directory, authenticate }) => {
  certificateAuthentication(app, db, authenticate);
  keyFiles(app);
  /** Key pairs are for the tenant's own addresses only. */
  const ownAddress = (tenantId: string, address: string) => {
    const normalised = address.trim().toLowerCase();
    if (directory.tenantForAddress(normalised)?.id !== tenantId) {
      throw new CertificateProblem(400, 'Not your address', `${normalised} is not in one of your tenant's domains`);
    }
    return normalised;
  };
  const listing = (row: Awaited<ReturnType<MemberPgpKeys['list']>>[number], now = new Date()) => ({
    id: row.id,
    address: row.address,
    fingerprint: row.fingerprint,
    algorithm: row.algorithm,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    valid: !row.expiresAt || row.expiresAt > now,
    source: row.source,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    publicKey: armoredPublicKey(row.publicKey),
  });

  app.get<{ Querystring: { address?: string } }>(
    '/',
    { schema: { querystring: { type: 'object', properties: { address: { type: 'string', maxLength: 320 } }, additionalProperties: false } } },
    async (request) => ({ keys: (await keys.list(request.tenantId!, request.query.address)).map((row) => listing(row)) }),
  );

  app.post<{ Querystring: { address: string } }>('/generate', { schema: { querystring: addressQuery } }, async (request, reply) => {
    const address = ownAddress(request.tenantId!, request.query.address);
    const name = directory.tenantById(request.tenantId!)?.members.find((m) => m.email.toLowerCase() === address)?.name;
    const row = await keys.generate(request.tenantId!, address, { actor: request.certificateActor!, clientIp: request.ip }, name);
    return reply.code(201).send(listing(row));
  });

  app.post<{ Body: Buffer; Querystring: { address: string } }>('/', { schema: { querystring: addressQuery } }, async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      return sendProblem(reply, { status: 415, title: 'Not a key file', detail: 'send the OpenPGP secret key armored or binary (application/pgp-keys)' });
    }
    const address = ownAddress(request.tenantId!, request.query.address);
    const header = request.headers['x-sealpost-password'];
    const row = await keys.import(request.tenantId!, address, request.body, typeof header === 'string' ? header : undefined, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(201).send(listing(row));
  });

  app.get<{ Params: { id: string } }>('/:id/public', { schema: { params: idParams } }, async (request, reply) => {
    const key = await keys.publicKey(request.tenantId!, request.params.id);
    return reply.type('application/pgp-keys').header('content-disposition', `attachment; filename="${fileName(key.address)}.asc"`).send(key.armored);
  });

  // The key pair with its secret key, protected with the passphrase sent in X-Sealpost-Password (never in the URL).
  app.get<{ Params: { id: string } }>('/:id/export', { schema: { params: idParams } }, async (request, reply) => {
    if (!request.certificateOwner) return sendProblem(reply, { status: 403, title: 'Owners only', detail: "only an owner may export a member's secret key" });
    const header = request.headers['x-sealpost-password'];
    if (typeof header !== 'string') return sendProblem(reply, { status: 400, title: 'Passphrase needed', detail: 'send the passphrase for the exported key in X-Sealpost-Password' });
    const exported = await keys.exportSecret(request.tenantId!, request.params.id, header, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.type('application/pgp-keys').header('content-disposition', `attachment; filename="${fileName(exported.address)}-secret.asc"`).send(exported.armored);
  });

  app.delete<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    await keys.remove(request.tenantId!, request.params.id, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(204).send();
  });
};
