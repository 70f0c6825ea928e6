/**
 * The public certificate store's admin API (/api/admin/certificates, behind the tenant's admin API token):
 * list and search, import (PEM, DER, PKCS#7, or PKCS#12 with its password in `X-Sealpost-Password`; only
 * the certificates are kept), export one as PEM, and delete. Imports and deletions are audited; a
 * certificate that differs from the one an address already has is kept beside it and reported as a change.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { CertificateProblem, certificatePem, readCertificates, type CertificateRow, type CertificateStore } from '../certs/certificate-store.ts';
import type { Database } from '../db/client.ts';
import { requireApiToken } from './api-token-auth.ts';
import { sendProblem } from './problem-details.ts';
import { idParams } from './shared-schemas.ts';

export interface CertificateRoutesOptions {
  db: Database;
  store: CertificateStore;
  /** How a request names its tenant and who acts (the portal's session); without it, the tenant's admin API token. */
  authenticate?: (request: FastifyRequest) => Promise<{ tenantId: string; actor: string; owner: boolean }>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who changes certificates and keys, for the audit log: a member's address, or the admin API token. */
    certificateActor?: string;
    /** Whether the actor may export members' private keys: an owner, or the tenant's admin API token. */
    certificateOwner?: boolean;
  }
}

/** Authenticates every request of a certificate or key plugin: the portal's session, or the admin API token. */
export function certificateAuthentication(app: FastifyInstance, db: Database, authenticate: CertificateRoutesOptions['authenticate']): void {
  if (authenticate) {
    app.addHook('onRequest', async (request) => {
      const who = await authenticate(request);
      request.tenantId = who.tenantId;
      request.certificateActor = who.actor;
      request.certificateOwner = who.owner;
    });
    return;
  }
  const token = requireApiToken(db);
  app.addHook('onRequest', async (request, reply) => {
    request.certificateActor = 'admin API token';
    request.certificateOwner = true;
    return token(request, reply);
  });
}

const MAX_UPLOAD_BYTES = 1024 * 1024;

function summary(row: CertificateRow, now = new Date()) {
  return {
    id: row.id,
    address: row.address,
    fingerprint: row.fingerprint,
    subject: row.subject,
    issuer: row.issuer,
    serialNumber: row.serialNumber,
    notBefore: row.notBefore.toISOString(),
    notAfter: row.notAfter.toISOString(),
    valid: row.notBefore <= now && now <= row.notAfter,
    source: row.source,
    addedBy: row.addedBy,
    ...(row.replacesFingerprint ? { replacesFingerprint: row.replacesFingerprint } : {}),
    firstSeenAt: row.firstSeenAt.toISOString(),
    lastSeenAt: row.lastSeenAt.toISOString(),
  };
}

export const certificateRoutes: FastifyPluginAsync<CertificateRoutesOptions> = async (app, { db, store, authenticate }) => {
  certificateAuthentication(app, db, authenticate);
  // Certificates arrive as files: PEM text or binary (DER, PKCS#7, PKCS#12), read as bytes.
  app.addContentTypeParser(
    ['application/x-pem-file', 'application/pkix-cert', 'application/pkcs7-mime', 'application/x-pkcs7-certificates', 'application/x-pkcs12', 'application/octet-stream', 'text/plain'],
    { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof CertificateProblem) return sendProblem(reply, { status: error.status, title: error.title, detail: error.message });
    throw error;
  });

  app.get<{ Querystring: { search?: string } }>(
    '/',
    { schema: { querystring: { type: 'object', properties: { search: { type: 'string', maxLength: 200 } }, additionalProperties: false } } },
    async (request) => ({ certificates: (await store.list(request.tenantId!, request.query.search)).map((row) => summary(row)) }),
  );

  app.post<{ Body: Buffer }>('/', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      return sendProblem(reply, { status: 415, title: 'Not a certificate file', detail: 'send the certificate as PEM text or binary (DER, PKCS#7, PKCS#12) with a matching Content-Type' });
    }
    const header = request.headers['x-sealpost-password'];
    const password = typeof header === 'string' ? header : undefined;
    const parsed = readCertificates(request.body, password);
    const imported = await store.add(request.tenantId!, parsed, { source: 'import', by: request.certificateActor!, clientIp: request.ip });
    return reply.code(201).send({ imported });
  });

  app.get<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    const row = await store.get(request.tenantId!, request.params.id);
    if ((request.headers.accept ?? '').includes('application/x-pem-file')) {
      return reply
        .type('application/x-pem-file')
        .header('content-disposition', `attachment; filename="${row.address.replace(/[^a-z0-9.@_-]/gi, '_')}.pem"`)
        .send(certificatePem(row.der));
    }
    return { ...summary(row), pem: certificatePem(row.der) };
  });

  app.delete<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    await store.remove(request.tenantId!, request.params.id, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(204).send();
  });
};
