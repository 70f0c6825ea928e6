/**
 * Members' own S/MIME keys through the admin API (/api/admin/member-keys, behind the tenant's admin API
 * token): list (certificates only, never private keys), import a member's PKCS#12 file (password in
 * `X-Sealpost-Password`) or PEM certificate and key, issue a key from the tenant's CA, delete, and the CA
 * certificate that partners add as a trust anchor. Every change is audited.
 */
import type { FastifyPluginAsync } from 'fastify';
import { CertificateProblem, certificatePem } from '../certs/certificate-store.ts';
import type { MemberKeys } from '../certs/member-keys.ts';
import type { Database } from '../db/client.ts';
import type { TenantDirectory } from '../tenants/tenant-directory.ts';
import { certificateAuthentication, type CertificateRoutesOptions } from './certificate-routes.ts';
import { sendProblem } from './problem-details.ts';
import { idParams, addressQuery } from './shared-schemas.ts';

export interface MemberKeyRoutesOptions {
  db: Database;
  keys: MemberKeys;
  directory: TenantDirectory;
  authenticate?: CertificateRoutesOptions['authenticate'];
}

const MAX_UPLOAD_BYTES = 1024 * 1024;

export const memberKeyRoutes: FastifyPluginAsync<MemberKeyRoutesOptions> = async (app, { db, keys, directory, authenticate }) => {
  certificateAuthentication(app, db, authenticate);
  app.addContentTypeParser(
    ['application/x-pkcs12', 'application/x-pem-file', 'application/octet-stream', 'text/plain'],
    { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES },
    (_request, body, done) => done(null, body),
  );
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof CertificateProblem) return sendProblem(reply, { status: error.status, title: error.title, detail: error.message });
    throw error;
  });
  const tenantOf = (tenantId: string) => directory.tenantById(tenantId)!;
  /** Keys are for the tenant's own addresses only. */
  const ownAddress = (tenantId: string, address: string) => {
    const normalised = address.trim().toLowerCase();
    if (directory.tenantForAddress(normalised)?.id !== tenantId) {
      throw new CertificateProblem(400, 'Not your address', `${normalised} is not in one of your tenant's domains`);
    }
    return normalised;
  };

  app.get<{ Querystring: { address?: string } }>(
    '/',
    { schema: { querystring: { type: 'object', properties: { address: { type: 'string', maxLength: 320 } }, additionalProperties: false } } },
    async (request) => {
      const now = new Date();
      const rows = await keys.list(request.tenantId!, request.query.address);
      return {
        keys: rows.map((row) => ({
          id: row.id,
          address: row.address,
          fingerprint: row.fingerprint,
          subject: row.subject,
          issuer: row.issuer,
          notBefore: row.notBefore.toISOString(),
          notAfter: row.notAfter.toISOString(),
          valid: row.notBefore <= now && now <= row.notAfter,
          source: row.source,
          createdBy: row.createdBy,
          createdAt: row.createdAt.toISOString(),
          certificate: certificatePem(row.certificate),
        })),
      };
    },
  );

  app.post<{ Body: Buffer; Querystring: { address: string } }>('/', { schema: { querystring: addressQuery } }, async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) {
      return sendProblem(reply, { status: 415, title: 'Not a key file', detail: 'send a PKCS#12 file (application/x-pkcs12) or PEM with the certificate and its private key' });
    }
    const address = ownAddress(request.tenantId!, request.query.address);
    const header = request.headers['x-sealpost-password'];
    const row = await keys.import(request.tenantId!, address, { file: request.body, ...(typeof header === 'string' ? { password: header } : {}) }, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(201).send({ id: row.id, address: row.address, fingerprint: row.fingerprint, notAfter: row.notAfter.toISOString() });
  });

  app.post<{ Querystring: { address: string } }>('/issue', { schema: { querystring: addressQuery } }, async (request, reply) => {
    const tenant = tenantOf(request.tenantId!);
    const address = ownAddress(tenant.id, request.query.address);
    const name = tenant.members.find((m) => m.email.toLowerCase() === address)?.name;
    const row = await keys.issue(tenant.id, tenant.name, address, { actor: request.certificateActor!, clientIp: request.ip }, name);
    return reply.code(201).send({ id: row.id, address: row.address, fingerprint: row.fingerprint, notAfter: row.notAfter.toISOString(), certificate: certificatePem(row.certificate) });
  });

  app.get('/ca', async (request, reply) => {
    const tenant = tenantOf(request.tenantId!);
    return reply.type('application/x-pem-file').header('content-disposition', 'attachment; filename="smime-ca.pem"').send(certificatePem(await keys.caCertificate(tenant.id, tenant.name)));
  });

  // A member's key with its private key, under a password sent in X-Sealpost-Password (never in the URL).
  app.get<{ Params: { id: string }; Querystring: { format?: 'pkcs12' | 'pem' } }>(
    '/:id/export',
    { schema: { params: idParams, querystring: { type: 'object', properties: { format: { type: 'string', enum: ['pkcs12', 'pem'] } }, additionalProperties: false } } },
    async (request, reply) => {
      if (!request.certificateOwner) return sendProblem(reply, { status: 403, title: 'Owners only', detail: "only an owner may export a member's private key" });
      const header = request.headers['x-sealpost-password'];
      if (typeof header !== 'string') return sendProblem(reply, { status: 400, title: 'Password needed', detail: 'send the password for the exported key in X-Sealpost-Password' });
      const format = request.query.format ?? 'pkcs12';
      const exported = await keys.export(request.tenantId!, request.params.id, header, format, { actor: request.certificateActor!, clientIp: request.ip });
      const name = exported.address.replace(/[^a-z0-9.@_-]/gi, '_');
      return reply
        .type(format === 'pem' ? 'application/x-pem-file' : 'application/x-pkcs12')
        .header('content-disposition', `attachment; filename="${name}.${format === 'pem' ? 'pem' : 'p12'}"`)
        .send(exported.bytes);
    },
  );

  app.delete<{ Params: { id: string } }>('/:id', { schema: { params: idParams } }, async (request, reply) => {
    await keys.remove(request.tenantId!, request.params.id, { actor: request.certificateActor!, clientIp: request.ip });
    return reply.code(204).send();
  });
};
