import { createPublicKey, sign, type KeyObject } from 'node:crypto';

/**
 * The registry's Ed25519 signing key (audit checkpoints and receipts): a private key held in this process
 * (a file), or one that never leaves an HSM (src/keys/hsm-signer.ts). Signatures are raw 64-byte Ed25519
 * either way, so whoever verifies cannot tell the two apart.
 */
export interface Ed25519Signer {
  readonly publicKey: KeyObject;
  sign(data: Buffer): Buffer;
  close?(): void;
}

/** A signer over a private key in memory. */
export function keyObjectSigner(privateKey: KeyObject): Ed25519Signer {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the registry signing key must be Ed25519');
  const publicKey = createPublicKey(privateKey);
  return { publicKey, sign: (data) => sign(null, data, privateKey) };
}
