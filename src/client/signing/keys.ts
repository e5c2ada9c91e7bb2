import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SigningError } from './errors';

/** Where a key was read from, for messages: never the key itself. */
export interface KeySource {
  text: string;
  label: string;
}

/**
 * Reads key text from a file, or cosign-style from an environment variable with `env://NAME` (the PEM
 * text in the variable: CI systems hand secrets over that way without writing them to disk).
 */
export async function readKeyText(spec: string, env: NodeJS.ProcessEnv = process.env): Promise<KeySource> {
  if (spec.startsWith('env://')) {
    const name = spec.slice('env://'.length);
    const value = env[name];
    if (!name || value === undefined || value.trim() === '')
      throw new SigningError(`--key ${spec}: the environment variable ${name || '(no name)'} is not set or empty`);
    return { text: value, label: `environment variable ${name}` };
  }
  try {
    return { text: await readFile(spec, 'utf8'), label: spec };
  } catch (err) {
    throw new SigningError(
      `--key ${spec}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}

/** The key kinds @sigstore/verify checks with SHA-256 (P-384 and others fail there: it assumes SHA-256). */
export type SigningAlgorithm = 'ecdsa-p256-sha256' | 'ed25519' | 'rsa-sha256';

export function algorithmOf(key: KeyObject, label: string): SigningAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'ed25519';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ecdsa-p256-sha256';
    throw new SigningError(
      `${label}: an EC key on curve ${curve ?? 'unknown'}; Sigstore verifiers expect P-256 with SHA-256 (or Ed25519)`,
    );
  }
  if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
      throw new SigningError(`${label}: an RSA key shorter than 2048 bits`);
    return 'rsa-sha256';
  }
  throw new SigningError(`${label}: unsupported key type ${type ?? 'unknown'}; use ECDSA P-256 or Ed25519`);
}

/**
 * Parses an unencrypted PEM private key (PKCS#8, or the SEC1 / PKCS#1 forms OpenSSL also writes).
 * Encrypted keys are refused rather than prompted for: a signing command often runs in CI, where a
 * prompt would hang, and a passphrase in a variable beside the key protects nothing.
 */
export function parsePrivateKey(src: KeySource): KeyObject {
  const text = src.text;
  if (/-----BEGIN ENCRYPTED (SIGSTORE |COSIGN )?PRIVATE KEY-----/.test(text) || /Proc-Type:\s*4,ENCRYPTED/.test(text)) {
    throw new SigningError(
      `${src.label}: the private key is encrypted; cairn reads unencrypted PKCS#8 PEM keys only. Decrypt it into a protected file or a CI secret, e.g. "openssl pkcs8 -in key.pem -out plain.pem" (cosign's own encrypted key format is not supported)`,
    );
  }
  if (!/-----BEGIN (EC |RSA )?PRIVATE KEY-----/.test(text)) {
    throw new SigningError(
      `${src.label}: not a PEM private key (expected "-----BEGIN PRIVATE KEY-----"; generate one with "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem")`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new SigningError(`${src.label}: the private key cannot be read: ${(err as Error).message}`);
  }
  algorithmOf(key, src.label);
  return key;
}

export function parsePublicKey(src: KeySource): KeyObject {
  if (!/-----BEGIN PUBLIC KEY-----/.test(src.text))
    throw new SigningError(
      `${src.label}: not a PEM public key (expected "-----BEGIN PUBLIC KEY-----"; derive it with "openssl pkey -in key.pem -pubout -out key.pub")`,
    );
  let key: KeyObject;
  try {
    key = createPublicKey({ key: src.text, format: 'pem' });
  } catch (err) {
    throw new SigningError(`${src.label}: the public key cannot be read: ${(err as Error).message}`);
  }
  algorithmOf(key, src.label);
  return key;
}

/** The key hint cosign puts in a bundle: base64(sha256(SPKI DER)). Verifiers look the key up by it. */
export function cosignKeyHint(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('base64');
}
