/**
 * The STARTTLS certificate: SEALPOST_TLS_CERT/KEY when configured, otherwise a self-signed one made once
 * into the data folder (fine for tests and for Exchange connectors that do not validate; production
 * should configure a real certificate).
 */
import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  selfSigned: boolean;
}

export async function loadTlsMaterial(options: {
  certFile?: string;
  keyFile?: string;
  dataDir: string;
  hostname: string;
}): Promise<TlsMaterial> {
  if (options.certFile && options.keyFile) {
    return { cert: readFileSync(options.certFile), key: readFileSync(options.keyFile), selfSigned: false };
  }
  const folder = join(options.dataDir, 'tls');
  const certPath = join(folder, 'self-signed-cert.pem');
  const keyPath = join(folder, 'self-signed-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), selfSigned: true };
  }
  const { cert, key } = await createSelfSignedCertificate(options.hostname);
  mkdirSync(folder, { recursive: true });
  writeFileSync(keyPath, key, { mode: 0o600 });
  writeFileSync(certPath, cert);
  return { cert, key, selfSigned: true };
}

export async function createSelfSignedCertificate(hostname: string): Promise<{ cert: Buffer; key: Buffer }> {
  const crypto = webcrypto as unknown as Crypto;
  x509.cryptoProvider.set(crypto);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(webcrypto.getRandomValues(new Uint8Array(16))).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=${hostname}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 825 * 24 * 3600_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostname }]),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  return { cert: Buffer.from(certificate.toString('pem')), key: Buffer.from(keyPem) };
}
