import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { wrappedBy, WRAPPED, WrappedKeyBroken } from './key-encryption';

/** What sealing needs of the key ring: wrap and unwrap data keys, and the current key's id. */
interface Wrapper {
  readonly current: { readonly id: string };
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

const PREFIX = 'sealed:v1:';

/**
 * Secrets kept in catalog rows (TOTP seeds, token-signing private keys), sealed like blobs: each under a
 * random data key (AES-256-GCM), the data key wrapped by the key-encryption key and stored with it, the
 * row it belongs to bound as additional data so a sealed value copied to another row does not open.
 * Stored as `sealed:v1:<wrapped key>:<nonce ‖ ciphertext ‖ tag>` (base64); a value without the prefix is
 * one written before encryption was configured, and reads as it is until sealed.
 */
export class SecretSealer {
  constructor(private readonly ring: Wrapper) {}

  static isSealed(stored: string): boolean {
    return stored.startsWith(PREFIX);
  }

  /** The id of the key-encryption key that wrapped a sealed value (undefined for plaintext). */
  static sealedBy(stored: string): string | undefined {
    if (!SecretSealer.isSealed(stored)) return undefined;
    return wrappedBy(Buffer.from(stored.slice(PREFIX.length).split(':')[0] ?? '', 'base64'));
  }

  async seal(secret: string, context: string): Promise<string> {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    const wrapped = await this.ring.wrap(key);
    key.fill(0);
    return `${PREFIX}${wrapped.toString('base64')}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
  }

  async open(stored: string, context: string): Promise<string> {
    if (!SecretSealer.isSealed(stored)) return stored;
    const [w, b] = stored.slice(PREFIX.length).split(':');
    const wrapped = Buffer.from(w ?? '', 'base64');
    const sealed = Buffer.from(b ?? '', 'base64');
    if (wrapped.length !== WRAPPED || sealed.length < 28)
      throw new WrappedKeyBroken(`the sealed secret of ${context} is malformed`);
    const key = await this.ring.unwrap(wrapped);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new WrappedKeyBroken(`the sealed secret of ${context} was altered or belongs to another row`);
    } finally {
      key.fill(0);
    }
  }

  /** Sealed again under the current key when plaintext or wrapped by another key; undefined when current. */
  async reseal(stored: string, context: string): Promise<string | undefined> {
    if (SecretSealer.sealedBy(stored) === this.ring.current.id) return undefined;
    return this.seal(await this.open(stored, context), context);
  }
}
