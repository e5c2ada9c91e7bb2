import { createHash, randomBytes } from 'node:crypto';
import type * as Pkcs11Js from 'pkcs11js';
import { HsmKey } from './hsm';
import {
  AAD,
  ID_BYTES,
  KeyUnavailable,
  VERSION,
  WRAPPED,
  WrappedKeyBroken,
  type KeyEncryptionKey,
} from './key-encryption';

function gcm(l: typeof Pkcs11Js, iv: Buffer, aad: Buffer): Pkcs11Js.Mechanism {
  const parameter: Pkcs11Js.AesGCM = { type: l.CK_PARAMS_AES_GCM, iv, aad, ivBits: 96, tagBits: 128 };
  return { mechanism: l.CKM_AES_GCM, parameter };
}

/**
 * A key-encryption key held in an HSM (an AES-256 secret key, CKM_AES_GCM): data keys are wrapped and
 * unwrapped by the device, in the same format as a file key's. Its id is derived from a check value the
 * device computes (the encryption of a fixed block under a fixed nonce, hashed), so every replica using the
 * same key material names it the same, and a different key under the same label is told apart.
 */
export class HsmKeyEncryptionKey implements KeyEncryptionKey {
  readonly id: string;
  private readonly idBytes: Buffer;

  constructor(private readonly hsm: HsmKey) {
    let check: Buffer;
    try {
      check = hsm.run((m, s, k, l) => {
        m.C_EncryptInit(s, gcm(l, Buffer.alloc(12), Buffer.from('cairn kek id')), k);
        return m.C_Encrypt(s, Buffer.alloc(16), Buffer.alloc(64));
      });
    } catch (err) {
      throw err instanceof KeyUnavailable
        ? err
        : new KeyUnavailable(`the HSM key ${hsm.display} cannot encrypt with AES-GCM: ${(err as Error).message}`);
    }
    this.idBytes = createHash('sha256').update('cairn kek id').update(check).digest().subarray(0, ID_BYTES);
    this.id = this.idBytes.toString('hex');
  }

  static open(uri: string, env: NodeJS.ProcessEnv = process.env): HsmKeyEncryptionKey {
    return new HsmKeyEncryptionKey(HsmKey.open(uri, 'secret', env));
  }

  async wrap(dataKey: Buffer): Promise<Buffer> {
    if (dataKey.length !== 32) throw new Error('a data key is 32 bytes');
    const nonce = randomBytes(12);
    const sealed = this.call(() =>
      this.hsm.run((m, s, k, l) => {
        m.C_EncryptInit(s, gcm(l, nonce, Buffer.concat([AAD, this.idBytes])), k);
        return m.C_Encrypt(s, dataKey, Buffer.alloc(64));
      }),
    );
    return Buffer.concat([Buffer.from([VERSION]), this.idBytes, nonce, sealed]);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    if (wrapped.length !== WRAPPED || wrapped[0] !== VERSION) throw new WrappedKeyBroken('not a wrapped data key');
    const id = wrapped.subarray(1, 1 + ID_BYTES);
    if (!id.equals(this.idBytes))
      throw new WrappedKeyBroken(`wrapped by key ${id.toString('hex')}, not by key ${this.id}`);
    try {
      return this.open(wrapped);
    } catch (err) {
      // A failed tag check and a failing device can look alike (SoftHSM2 says CKR_GENERAL_ERROR to both):
      // if the key still opens what it has just sealed, the wrapped key is what is broken.
      if (err instanceof KeyUnavailable) throw err;
      let healthy: boolean;
      try {
        const probe = randomBytes(32);
        healthy = this.open(await this.wrap(probe)).equals(probe);
      } catch {
        healthy = false;
      }
      if (healthy) throw new WrappedKeyBroken(`a data key wrapped by key ${this.id} was altered`);
      throw new KeyUnavailable(`the HSM key ${this.hsm.display} failed: ${(err as Error).message}`);
    }
  }

  private open(wrapped: Buffer): Buffer {
    const nonce = wrapped.subarray(1 + ID_BYTES, 1 + ID_BYTES + 12);
    return this.hsm.run((m, s, k, l) => {
      m.C_DecryptInit(s, gcm(l, nonce, Buffer.concat([AAD, this.idBytes])), k);
      return Buffer.from(m.C_Decrypt(s, wrapped.subarray(1 + ID_BYTES + 12), Buffer.alloc(64)));
    });
  }

  private call<T>(work: () => T): T {
    try {
      return work();
    } catch (err) {
      if (err instanceof KeyUnavailable) throw err;
      throw new KeyUnavailable(`the HSM key ${this.hsm.display} failed: ${(err as Error).message}`);
    }
  }

  close(): void {
    this.hsm.close();
  }
}
