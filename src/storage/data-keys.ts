/**
 * Where the wrapped data keys of encrypted blobs live (issue 16): apart from the bytes they unlock, so
 * that destroying a key (crypto-shredding) leaves every copy of the bytes — backups, bucket versions —
 * unreadable. The catalog's database holds them (src/catalog/kysely-data-keys.ts), shared by every
 * replica; every implementation passes test/contracts/data-key-store.contract.ts.
 *
 * A key's `owner` says what it seals: `stage:<upload id>` while an upload is staged, `write:<key id>`
 * while a whole-blob write is pending, `blob:<digest>` once committed. A digest may own several keys
 * when two replicas committed the same blob at once; the object's header names the one it was sealed with.
 */
export interface DataKeyRecord {
  keyId: string;
  owner: string;
  /** The id of the key-encryption key that wrapped it. */
  kekId: string;
  wrapped: Buffer;
  createdAt: number;
}

export interface DataKeyStore {
  insertDataKey(record: DataKeyRecord): Promise<void>;
  dataKey(keyId: string): Promise<DataKeyRecord | undefined>;
  dataKeysOf(owner: string): Promise<DataKeyRecord[]>;
  setDataKeyOwner(keyId: string, owner: string): Promise<void>;
  deleteDataKey(keyId: string): Promise<void>;
  /** Destroys every key an owner has; answers how many. */
  deleteDataKeysOf(owner: string): Promise<number>;
  /** Up to `limit` keys not wrapped by `kekId`, for re-wrapping after a rotation. */
  dataKeysNotWrappedBy(kekId: string, limit: number): Promise<DataKeyRecord[]>;
  /** Replaces a key's wrapping if it is still wrapped by `fromKekId`; false when another replica did it. */
  rewrapDataKey(keyId: string, fromKekId: string, kekId: string, wrapped: Buffer): Promise<boolean>;
  /** How many keys each key-encryption key wraps. */
  dataKeyCounts(): Promise<Map<string, number>>;
  /** Keys whose owner starts with `prefix` and that are older than `before` (leftovers of killed writes). */
  staleDataKeys(prefix: string, before: number, limit: number): Promise<DataKeyRecord[]>;
}
