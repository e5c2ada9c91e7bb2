import {
  FileKeyEncryptionKey,
  KeyUnavailable,
  wrappedBy,
  WrappedKeyBroken,
  type KeyEncryptionKey,
} from './key-encryption';
import { HsmKeyEncryptionKey } from './hsm-key-encryption';

/**
 * The configured key-encryption keys: the current one wraps every new data key; previous ones (kept after a
 * rotation until nothing is wrapped by them) still unwrap. Each wrapped data key names the key that
 * wrapped it, so no key is ever tried on another's data.
 */
export class KeyRing {
  private readonly byId = new Map<string, KeyEncryptionKey>();

  constructor(
    readonly current: KeyEncryptionKey,
    readonly previous: KeyEncryptionKey[] = [],
  ) {
    for (const k of [current, ...previous]) this.byId.set(k.id, k);
  }

  wrap(dataKey: Buffer): Promise<Buffer> {
    return this.current.wrap(dataKey);
  }

  unwrap(wrapped: Buffer): Promise<Buffer> {
    const id = wrappedBy(wrapped);
    if (!id) return Promise.reject(new WrappedKeyBroken('not a wrapped data key'));
    const key = this.byId.get(id);
    if (!key)
      return Promise.reject(
        new KeyUnavailable(`a data key is wrapped by key ${id}, which is not configured (encryption.previousKeys)`),
      );
    return key.unwrap(wrapped);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  close(): void {
    for (const k of this.byId.values()) (k as { close?: () => void }).close?.();
  }
}

/** A key-encryption key from its URI: `file:///path` or `pkcs11:…`. */
export function openKeyEncryptionKey(uri: string, env: NodeJS.ProcessEnv = process.env): KeyEncryptionKey {
  if (uri.startsWith('file://')) return FileKeyEncryptionKey.fromUri(uri);
  if (uri.startsWith('pkcs11:')) return HsmKeyEncryptionKey.open(uri, env);
  throw new KeyUnavailable(`an encryption key is a file:// or pkcs11: URI, not ${uri.slice(0, 40)}`);
}

export function openKeyRing(current: string, previous: string[] = [], env: NodeJS.ProcessEnv = process.env): KeyRing {
  return new KeyRing(
    openKeyEncryptionKey(current, env),
    previous.map((u) => openKeyEncryptionKey(u, env)),
  );
}
