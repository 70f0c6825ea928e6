import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EntraTokenError, EntraTokenValidator, type EntraTokenErrorCode } from '../src/http/entra-tokens.ts';
import { LocalEntraIssuer } from './support/local-entra-issuer.ts';

const APP_ID = '6f1c2a9e-8d51-4b7a-9c33-0f2d7e5a1b10';
const ACME_ENTRA = '3b2f8c1d-4e5a-4f60-8a7b-9c0d1e2f3a4b';
const FOREIGN_ENTRA = 'aa11bb22-cc33-4d44-8e55-ff6677889900';
const ALICE_OID = '0c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f';

const policy = { applicationIds: [APP_ID], allowedTenantIds: [ACME_ENTRA] };

async function refusal(promise: Promise<unknown>, code: EntraTokenErrorCode): Promise<EntraTokenError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EntraTokenError, `an EntraTokenError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`the token was accepted, expected ${code}`);
}

describe('Entra ID token validation', () => {
  let issuer: LocalEntraIssuer;
  let validator: EntraTokenValidator;
  const alice = () => ({ tid: ACME_ENTRA, oid: ALICE_OID, aud: APP_ID, email: 'Alice@Acme.test' });

  before(async () => {
    issuer = await LocalEntraIssuer.start();
    validator = new EntraTokenValidator({ authorityBaseUrl: issuer.url, addinHost: 'addin.acme.test' });
  });
  after(() => issuer.close());

  test('a valid token from an allowed Entra tenant yields the signed-in identity', async () => {
    const token = issuer.sign(issuer.claims(alice(), { scp: 'access_as_user Mail.Read', name: 'Alice Lawyer' }));
    const identity = await validator.validate(token, policy);
    assert.equal(identity.objectId, ALICE_OID);
    assert.equal(identity.tenantId, ACME_ENTRA);
    assert.equal(identity.email, 'alice@acme.test');
    assert.equal(identity.name, 'Alice Lawyer');
    assert.deepEqual(identity.scopes, ['access_as_user', 'Mail.Read']);
  });

  test('the api:// form of the application id is an accepted audience, another application is not', async () => {
    const uri = issuer.sign(issuer.claims(alice(), { aud: `api://addin.acme.test/${APP_ID}` }));
    assert.equal((await validator.validate(uri, policy)).objectId, ALICE_OID);
    await refusal(validator.validate(issuer.sign(issuer.claims(alice(), { aud: randomUUID() })), policy), 'wrong_audience');
    await refusal(validator.validate(issuer.sign(issuer.claims(alice(), { aud: '00000003-0000-0000-c000-000000000000' })), policy), 'wrong_audience');
    await refusal(validator.validate(issuer.sign(issuer.claims(alice(), { aud: `api://evil.test/${APP_ID}x` })), policy), 'wrong_audience');
  });

  test("the application's URI under another deployment's host is refused, under this deployment's host it is accepted", async () => {
    const ours = issuer.sign(issuer.claims(alice(), { aud: `api://ADDIN.acme.test/${APP_ID}` }));
    assert.equal((await validator.validate(ours, policy)).objectId, ALICE_OID);
    assert.equal((await validator.validate(issuer.sign(issuer.claims(alice(), { aud: `api://${APP_ID}` })), policy)).objectId, ALICE_OID);
    const evil = await refusal(validator.validate(issuer.sign(issuer.claims(alice(), { aud: `api://evil.example/${APP_ID}` })), policy), 'wrong_audience');
    assert.match(evil.message, /evil\.example/);
    // A path that merely ends in the application id is another URI, not this deployment's.
    await refusal(validator.validate(issuer.sign(issuer.claims(alice(), { aud: `api://addin.acme.test/other/${APP_ID}` })), policy), 'wrong_audience');
    const hostless = new EntraTokenValidator({ authorityBaseUrl: issuer.url });
    await refusal(hostless.validate(ours, policy), 'wrong_audience');
  });

  test('a token from an Entra tenant not on the allow-list is refused without asking its issuer', async () => {
    const before = issuer.requests.length;
    const token = issuer.sign(issuer.claims({ ...alice(), tid: FOREIGN_ENTRA }));
    await refusal(validator.validate(token, policy), 'tenant_not_allowed');
    assert.equal(issuer.requests.length, before, 'no key fetch for a foreign tenant');
  });

  test('an expired token and a token not yet valid are refused, within the clock skew they pass', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = issuer.sign(issuer.claims(alice(), { iat: now - 7200, nbf: now - 7200, exp: now - 600 }));
    await refusal(validator.validate(expired, policy), 'expired');
    const early = issuer.sign(issuer.claims(alice(), { nbf: now + 900 }));
    await refusal(validator.validate(early, policy), 'not_yet_valid');
    const justExpired = issuer.sign(issuer.claims(alice(), { exp: now - 30 }));
    assert.equal((await validator.validate(justExpired, { ...policy, clockSkewSeconds: 60 })).objectId, ALICE_OID);
    await refusal(validator.validate(justExpired, { ...policy, clockSkewSeconds: 0 }), 'expired');
  });

  test('a token signed with a key the issuer does not publish is refused', async () => {
    // Same key id as the real key: only the signature can tell.
    const forged = issuer.sign(issuer.claims(alice()), { foreignKey: true, kid: issuer.currentKid });
    await refusal(validator.validate(forged, policy), 'bad_signature');
    const unknownKid = issuer.sign(issuer.claims(alice()), { foreignKey: true });
    await refusal(validator.validate(unknownKid, policy), 'bad_signature');
  });

  test('a token whose claims were altered after signing is refused', async () => {
    const token = issuer.sign(issuer.claims(alice()));
    const [header, , signature] = token.split('.');
    const claims = Buffer.from(JSON.stringify(issuer.claims({ ...alice(), oid: randomUUID() }))).toString('base64url');
    await refusal(validator.validate(`${header}.${claims}.${signature}`, policy), 'bad_signature');
  });

  test('unsigned (alg none) and HMAC-signed (HS256) tokens are never accepted', async () => {
    await refusal(validator.validate(issuer.sign(issuer.claims(alice()), { alg: 'none' }), policy), 'bad_signature');
    await refusal(validator.validate(issuer.sign(issuer.claims(alice()), { alg: 'HS256' }), policy), 'bad_signature');
  });

  test('a token from another issuer for the same tenant is refused', async () => {
    const token = issuer.sign(issuer.claims(alice(), { iss: `https://evil.test/${ACME_ENTRA}/v2.0` }));
    await refusal(validator.validate(token, policy), 'wrong_issuer');
    // The v1 issuer form is only meaningful for Microsoft's own authority, not this one.
    const v1 = issuer.sign(issuer.claims(alice(), { iss: `https://sts.windows.net/${ACME_ENTRA}/` }));
    await refusal(validator.validate(v1, policy), 'wrong_issuer');
  });

  test('garbage is reported as malformed', async () => {
    await refusal(validator.validate('not-a-token', policy), 'malformed');
    await refusal(validator.validate('a.b.c', policy), 'malformed');
    const noOid = issuer.sign({ ...issuer.claims(alice()), oid: undefined as unknown as string });
    await refusal(validator.validate(noOid, policy), 'malformed');
  });

  test('rotated keys are picked up on the first token that names the new key', async () => {
    const rotating = new EntraTokenValidator({ authorityBaseUrl: issuer.url, keyRefreshCooldownMs: 50 });
    assert.ok(await rotating.validate(issuer.sign(issuer.claims(alice())), policy));
    const oldToken = issuer.sign(issuer.claims(alice()));
    issuer.rotate();
    await new Promise((resolve) => setTimeout(resolve, 60));
    const identity = await rotating.validate(issuer.sign(issuer.claims(alice())), policy);
    assert.equal(identity.objectId, ALICE_OID);
    // The withdrawn key was dropped from the cache with the refresh.
    await refusal(rotating.validate(oldToken, policy), 'bad_signature');
  });

  test('unknown key ids cause at most one refresh per cooldown', async () => {
    const guarded = new EntraTokenValidator({ authorityBaseUrl: issuer.url, keyRefreshCooldownMs: 60_000 });
    await guarded.validate(issuer.sign(issuer.claims(alice())), policy);
    const before = issuer.requests.length;
    for (let i = 0; i < 20; i++) {
      await refusal(guarded.validate(issuer.sign(issuer.claims(alice()), { foreignKey: true, kid: randomUUID() }), policy), 'bad_signature');
    }
    assert.equal(issuer.requests.length, before, 'forged key ids did not reach the issuer');
  });

  test('an unreachable or failing issuer is reported as keys_unavailable', async () => {
    const closed = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const port = (probe.address() as { port: number }).port;
        probe.close(() => resolve(port));
      });
    });
    const unreachable = new EntraTokenValidator({ authorityBaseUrl: `http://127.0.0.1:${closed}`, issuerTimeoutMs: 2000 });
    const token = issuer.sign(issuer.claims(alice()));
    await refusal(unreachable.validate(token, policy), 'keys_unavailable');

    const fresh = new EntraTokenValidator({ authorityBaseUrl: issuer.url });
    issuer.available = false;
    try {
      await refusal(fresh.validate(token, policy), 'keys_unavailable');
    } finally {
      issuer.available = true;
    }
    assert.equal((await fresh.validate(token, policy)).objectId, ALICE_OID, 'works again once the issuer is back');
  });
});
