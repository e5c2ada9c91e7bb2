import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The key-encryption key of envelope encryption (issue 16): it wraps each blob's data key and never
 * touches blob bytes. `id` names the key in every wrapped data key, so that after a rotation each data
 * key says which key unwraps it.
 */
export interface KeyEncryptionKey {
  readonly id: string;
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** A wrapped data key that does not unwrap: altered, or wrapped by another key (named in the message). */
export class WrappedKeyBroken extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WrappedKeyBroken';
  }
}

/** A key the configuration names cannot be used now (HSM unreachable, key missing): retry later, 503. */
export class KeyUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyUnavailable';
  }
}

/**
 * The wrapped form, shared by every kind of key-encryption key: version ‖ key id (8) ‖ nonce (12) ‖
 * AES-256-GCM of the 32-byte data key ‖ tag (16), the key id in the additional data.
 */
export const VERSION = 1;
export const AAD = Buffer.from('cairn data key v1');
export const ID_BYTES = 8;
export const WRAPPED = 1 + ID_BYTES + 12 + 32 + 16;

/** The id of the key that wrapped `wrapped`, or undefined when it is not a wrapped data key. */
export function wrappedBy(wrapped: Buffer): string | undefined {
  if (wrapped.length !== WRAPPED || wrapped[0] !== VERSION) return undefined;
  return wrapped.subarray(1, 1 + ID_BYTES).toString('hex');
}

/** A 256-bit key held in a file readable by its owner only (`file:///path`, made by `writeKeyFile`). */
export class FileKeyEncryptionKey implements KeyEncryptionKey {
  readonly id: string;
  private readonly idBytes: Buffer;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new KeyFileError('a key-encryption key is 32 bytes');
    // Names the key without revealing it: a hash of it under a label of its own.
    this.idBytes = createHash('sha256').update('cairn kek id').update(key).digest().subarray(0, ID_BYTES);
    this.id = this.idBytes.toString('hex');
  }

  static fromUri(uri: string): FileKeyEncryptionKey {
    if (!uri.startsWith('file://')) throw new KeyFileError(`not a file:// key URI: ${uri}`);
    const file = fileURLToPath(uri);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new KeyFileError(`cannot read the key-encryption key ${file}: ${(err as Error).message}`);
    }
    try {
      const mode = fstatSync(fd).mode & 0o777;
      if (mode & 0o077)
        throw new KeyFileError(
          `the key-encryption key ${file} is readable by others (mode ${mode.toString(8)}): chmod 600`,
        );
      const key = readFileSync(fd);
      if (key.length !== 32) throw new KeyFileError(`the key-encryption key ${file} holds ${key.length} bytes, not 32`);
      return new FileKeyEncryptionKey(key);
    } finally {
      closeSync(fd);
    }
  }

  async wrap(dataKey: Buffer): Promise<Buffer> {
    if (dataKey.length !== 32) throw new Error('a data key is 32 bytes');
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.concat([AAD, this.idBytes]));
    const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), this.idBytes, nonce, body, cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    if (wrapped.length !== WRAPPED || wrapped[0] !== VERSION) throw new WrappedKeyBroken('not a wrapped data key');
    const id = wrapped.subarray(1, 1 + ID_BYTES);
    if (!id.equals(this.idBytes))
      throw new WrappedKeyBroken(`wrapped by key ${id.toString('hex')}, not by key ${this.id}`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, wrapped.subarray(1 + ID_BYTES, 1 + ID_BYTES + 12));
    decipher.setAAD(Buffer.concat([AAD, this.idBytes]));
    decipher.setAuthTag(wrapped.subarray(WRAPPED - 16));
    try {
      return Buffer.concat([decipher.update(wrapped.subarray(1 + ID_BYTES + 12, WRAPPED - 16)), decipher.final()]);
    } catch {
      throw new WrappedKeyBroken(`a data key wrapped by key ${this.id} was altered`);
    }
  }
}

/** Writes a new random 256-bit key, owner-only (0600); never replaces an existing file. */
export function writeKeyFile(file: string): FileKeyEncryptionKey {
  const key = randomBytes(32);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    throw new KeyFileError(`cannot create ${file}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, key);
  } finally {
    closeSync(fd);
  }
  return new FileKeyEncryptionKey(key);
}
