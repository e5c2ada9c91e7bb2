import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { Signature, Signer } from '@sigstore/sign';
import { algorithmOf, cosignKeyHint, type SigningAlgorithm } from './keys';

/**
 * A @sigstore/sign Signer over a local private key: the bundle then carries the key hint instead of a
 * certificate, and whoever verifies must hold the public key (cosign's `--key`).
 */
export class LocalKeySigner implements Signer {
  readonly algorithm: SigningAlgorithm;
  readonly publicKey: KeyObject;
  readonly hint: string;
  private readonly pem: string;

  constructor(
    private readonly privateKey: KeyObject,
    label = 'key',
  ) {
    this.algorithm = algorithmOf(privateKey, label);
    this.publicKey = createPublicKey(privateKey);
    this.pem = this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    this.hint = cosignKeyHint(this.publicKey);
  }

  async sign(data: Buffer): Promise<Signature> {
    // Ed25519 hashes internally (no digest argument); ECDSA and RSA sign a SHA-256 digest, the only
    // one @sigstore/verify checks them with. ECDSA signatures come out DER-encoded, as Sigstore expects.
    const signature = sign(this.algorithm === 'ed25519' ? null : 'sha256', data, this.privateKey);
    return { signature, key: { $case: 'publicKey', publicKey: this.pem, hint: this.hint } };
  }
}
