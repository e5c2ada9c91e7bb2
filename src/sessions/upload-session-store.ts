/**
 * UploadSessionStore: the state of in-flight uploads, shared by every replica that can receive a chunk.
 * The bytes themselves live in the BlobStore's staging area; a session holds where the upload stands.
 *
 * Sessions expire after `idleMs` without activity (create, advance, touch): get() then answers undefined,
 * and the janitor removes the staged bytes. Every implementation passes
 * test/contracts/upload-session-store.contract.ts.
 */
export interface UploadSession {
  id: string;
  /** The repository the upload was opened in. */
  repository: string;
  /** The principal that opened it: only that identity may continue it (see docs/security.md). */
  owner?: string;
  /** Bytes received and staged so far. */
  offset: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface UploadSessionStore {
  readonly kind: string;
  init(): Promise<void>;
  close(): Promise<void>;

  /** Stores a new session (offset 0). */
  create(session: Pick<UploadSession, 'id' | 'repository' | 'owner'>): Promise<UploadSession>;
  /** The live session, or undefined when unknown or expired. */
  get(id: string): Promise<UploadSession | undefined>;
  /**
   * Atomically moves the offset from `expected` to `next` and refreshes the idle timer.
   * False when the session is gone or its offset is not `expected` (another writer got there first).
   */
  advance(id: string, expected: number, next: number): Promise<boolean>;
  /** Refreshes the idle timer (during a long chunk); false when the session is gone. */
  touch(id: string): Promise<boolean>;
  /**
   * Takes the session's write lease for ttlMs, so that two requests never write the same upload at once.
   * Returns a token, or undefined when another holder has it. Renew it with the same token before it lapses.
   */
  lock(id: string, ttlMs: number, token?: string): Promise<string | undefined>;
  /** Releases the lease if `token` still holds it. */
  unlock(id: string, token: string): Promise<void>;
  /** Forgets the session (and its lease). */
  delete(id: string): Promise<void>;
}
