import { createDataKeyStore } from './catalog';
import type { Catalog } from './catalog/catalog';
import { ConfigError, type Config } from './config/config';
import { openKeyRing, type KeyRing } from './keys/key-ring';
import { SecretSealer } from './keys/sealed-secrets';
import { createIdentityStore } from './auth';
import type { BlobStore } from './storage/blob-store';
import type { DataKeyStore } from './storage/data-keys';
import { EncryptingBlobStore } from './storage/encrypting-blob-store';

export interface Encryption {
  ring: KeyRing;
  dataKeys: DataKeyStore;
  blobs: EncryptingBlobStore;
  /** Seals the catalog's secrets (TOTP seeds, token-signing keys); given to the identity store. */
  secrets: SecretSealer;
}

/** Which key-encryption key wraps what: blob data keys, and the sealed secrets of the catalog. */
export async function wrappedCounts(
  catalog: Catalog,
): Promise<{ dataKeys: Map<string, number>; secrets: Map<string, number> }> {
  const dataKeys = await createDataKeyStore(catalog).dataKeyCounts();
  const secrets = new Map<string, number>();
  for (const stored of await createIdentityStore(catalog).storedSecrets()) {
    const by = SecretSealer.sealedBy(stored);
    if (by) secrets.set(by, (secrets.get(by) ?? 0) + 1);
  }
  return { dataKeys, secrets };
}

/**
 * Puts envelope encryption in front of the blob store when `encryption.key` is configured, after checking
 * that the configured keys can open what the catalog says is sealed. Refuses to start:
 * - without a key when data keys exist (the blobs would be served as the ciphertext they are);
 * - when data keys are wrapped by a key that is neither `encryption.key` nor in `encryption.previousKeys`
 *   (a wrong key file, another HSM key), naming both ids.
 */
export async function wireEncryption(
  config: Config,
  blobs: BlobStore,
  catalog: Catalog,
): Promise<{ blobs: BlobStore; encryption?: Encryption }> {
  const dataKeys = createDataKeyStore(catalog);
  const wrapped = await wrappedCounts(catalog);
  const counts = new Map(wrapped.dataKeys);
  for (const [id, n] of wrapped.secrets) counts.set(id, (counts.get(id) ?? 0) + n);
  if (!config.encryption.key) {
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    if (total > 0)
      throw new ConfigError(
        `the registry holds encrypted blobs or sealed secrets (${total} keys) but encryption.key (CAIRN_ENCRYPTION_KEY) is not set`,
      );
    return { blobs };
  }
  let ring: KeyRing;
  try {
    ring = openKeyRing(config.encryption.key, config.encryption.previousKeys);
  } catch (err) {
    throw new ConfigError(`encryption.key: ${(err as Error).message}`);
  }
  const unknown = [...counts.keys()].filter((id) => !ring.has(id));
  if (unknown.length > 0) {
    ring.close();
    throw new ConfigError(
      `encryption.key is key ${ring.current.id}, but data keys are wrapped by key ${unknown.join(', ')}: ` +
        'configure that key (or list it in encryption.previousKeys after a rotation)',
    );
  }
  const sealed = new EncryptingBlobStore(blobs, dataKeys, ring, undefined, config.encryption.keyCacheSeconds * 1000);
  return { blobs: sealed, encryption: { ring, dataKeys, blobs: sealed, secrets: new SecretSealer(ring) } };
}
