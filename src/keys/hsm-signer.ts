import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type * as Pkcs11Js from 'pkcs11js';
import { HsmKey } from './hsm';
import { KeyUnavailable } from './key-encryption';
import type { Ed25519Signer } from './signer';

/** PKCS#11 3.0 mechanisms that pkcs11js (written for 2.40) does not name, and CKM_ECDSA. */
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const CKM_ECDSA = 0x1041;

/** DER of the curve OID 1.3.101.112 (Ed25519), the CKA_EC_PARAMS of an Edwards key. */
const ED25519_PARAMS = Buffer.from('06032b6570', 'hex');

/**
 * An elliptic-curve key pair to generate in a token: the public half for verifying, the private half
 * sensitive and never extractable, both under the URI's label (and id) so the signer finds them.
 */
function keyPair(lib: typeof Pkcs11Js, mechanism: number, curve: Buffer, label: string, id: Buffer | undefined) {
  const named = [{ type: lib.CKA_LABEL, value: label }, ...(id ? [{ type: lib.CKA_ID, value: id }] : [])];
  return {
    mechanism: { mechanism },
    publicTemplate: [
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_VERIFY, value: true },
      { type: lib.CKA_EC_PARAMS, value: curve },
      ...named,
    ],
    privateTemplate: [
      { type: lib.CKA_TOKEN, value: true },
      { type: lib.CKA_PRIVATE, value: true },
      { type: lib.CKA_SENSITIVE, value: true },
      { type: lib.CKA_EXTRACTABLE, value: false },
      { type: lib.CKA_SIGN, value: true },
      ...named,
    ],
  };
}

/** The raw 32-byte key out of CKA_EC_POINT, which is a DER OCTET STRING (or, by some modules, raw). */
function rawPoint(point: Buffer): Buffer {
  if (point.length === 32) return point;
  if (point.length === 34 && point[0] === 0x04 && point[1] === 0x20) return point.subarray(2);
  throw new KeyUnavailable(`the HSM key's public point is not an Ed25519 key (${point.length} bytes)`);
}

/**
 * An Ed25519 private key in an HSM (CKM_EDDSA): checkpoints and receipts are signed by the device, and
 * the key is never in this process. Its public key is read once from the public key object that shares
 * the private key's label (and id), as HSM tools create them in pairs.
 */
export class HsmEd25519Signer implements Ed25519Signer {
  readonly publicKey: KeyObject;

  private constructor(
    private readonly hsm: HsmKey,
    publicKey: KeyObject,
  ) {
    this.publicKey = publicKey;
  }

  static open(uri: string, env: NodeJS.ProcessEnv = process.env): HsmEd25519Signer {
    const hsm = HsmKey.open(uri, 'private', env);
    const point = hsm.publicPoint();
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: rawPoint(point).toString('base64url') },
      format: 'jwk',
    });
    const signer = new HsmEd25519Signer(hsm, publicKey);
    signer.sign(Buffer.from('cairn: a signing key that works'));
    return signer;
  }

  sign(data: Buffer): Buffer {
    return this.hsm.sign(CKM_EDDSA, data);
  }

  close(): void {
    this.hsm.close();
  }

  /** Makes an Ed25519 key pair in the token a `pkcs11:` URI names; the private half is not extractable. */
  static generate(uri: string, env: NodeJS.ProcessEnv = process.env): KeyObject {
    HsmKey.generate(uri, env, (lib, label, id) => keyPair(lib, CKM_EC_EDWARDS_KEY_PAIR_GEN, ED25519_PARAMS, label, id));
    const signer = HsmEd25519Signer.open(uri, env);
    signer.close();
    return signer.publicKey;
  }
}

/** DER of the curve OID 1.2.840.10045.3.1.7 (P-256), the CKA_EC_PARAMS of a prime256v1 key. */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');

/** The uncompressed point (0x04 ‖ X ‖ Y) out of CKA_EC_POINT, a DER OCTET STRING (or raw). */
function uncompressedPoint(point: Buffer): Buffer {
  if (point.length === 65 && point[0] === 0x04) return point;
  if (point.length === 67 && point[0] === 0x04 && point[1] === 0x41 && point[2] === 0x04) return point.subarray(2);
  throw new KeyUnavailable(`the HSM key's public point is not a P-256 key (${point.length} bytes)`);
}

/**
 * An ECDSA P-256 private key in an HSM, for ES256 registry tokens: the JWS signing input is hashed here
 * (SHA-256) and the device signs the hash (CKM_ECDSA), which yields the raw r ‖ s a JWS carries.
 */
export class HsmP256Signer {
  private constructor(
    private readonly hsm: HsmKey,
    readonly publicKey: KeyObject,
  ) {}

  static open(uri: string, env: NodeJS.ProcessEnv = process.env): HsmP256Signer {
    const hsm = HsmKey.open(uri, 'private', env);
    const point = hsm.publicPoint();
    const xy = uncompressedPoint(point);
    const publicKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: xy.subarray(1, 33).toString('base64url'),
        y: xy.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
    const signer = new HsmP256Signer(hsm, publicKey);
    signer.sign(Buffer.from('cairn: a signing key that works'));
    return signer;
  }

  /** The key's URI with the PIN hidden. */
  get label(): string {
    return this.hsm.display;
  }

  /** The raw 64-byte r ‖ s ECDSA signature of SHA-256(data). */
  sign(data: Buffer): Buffer {
    return this.hsm.sign(CKM_ECDSA, createHash('sha256').update(data).digest());
  }

  close(): void {
    this.hsm.close();
  }

  /** Makes a P-256 key pair in the token a `pkcs11:` URI names; the private half is not extractable. */
  static generate(uri: string, env: NodeJS.ProcessEnv = process.env): KeyObject {
    HsmKey.generate(uri, env, (lib, label, id) => keyPair(lib, lib.CKM_EC_KEY_PAIR_GEN, P256_PARAMS, label, id));
    const signer = HsmP256Signer.open(uri, env);
    signer.close();
    return signer.publicKey;
  }
}
