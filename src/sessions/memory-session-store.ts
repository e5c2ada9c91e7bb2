import { randomUUID } from 'node:crypto';
import type { UploadSession, UploadSessionStore } from './upload-session-store';

interface Lease {
  token: string;
  expires: number;
}

/** Sessions in this process's memory: the embedded default. They do not survive a restart. */
export class MemorySessionStore implements UploadSessionStore {
  readonly kind = 'memory';
  private readonly sessions = new Map<string, UploadSession>();
  private readonly leases = new Map<string, Lease>();

  constructor(private readonly idleMs: number) {}

  async init(): Promise<void> {}

  async close(): Promise<void> {
    this.sessions.clear();
    this.leases.clear();
  }

  async create(s: Pick<UploadSession, 'id' | 'repository' | 'owner'>): Promise<UploadSession> {
    const now = Date.now();
    const session: UploadSession = { id: s.id, repository: s.repository, offset: 0, createdAt: now, updatedAt: now };
    if (s.owner) session.owner = s.owner;
    this.sessions.set(s.id, session);
    return { ...session };
  }

  private live(id: string): UploadSession | undefined {
    const s = this.sessions.get(id);
    if (s && s.updatedAt + this.idleMs < Date.now()) {
      this.sessions.delete(id);
      this.leases.delete(id);
      return undefined;
    }
    return s;
  }

  async get(id: string): Promise<UploadSession | undefined> {
    const s = this.live(id);
    return s ? { ...s } : undefined;
  }

  async advance(id: string, expected: number, next: number): Promise<boolean> {
    const s = this.live(id);
    if (!s || s.offset !== expected) return false;
    s.offset = next;
    s.updatedAt = Date.now();
    return true;
  }

  async touch(id: string): Promise<boolean> {
    const s = this.live(id);
    if (!s) return false;
    s.updatedAt = Date.now();
    return true;
  }

  async lock(id: string, ttlMs: number, token?: string): Promise<string | undefined> {
    const now = Date.now();
    const held = this.leases.get(id);
    if (held && held.expires > now && held.token !== token) return undefined;
    const t = token ?? randomUUID();
    this.leases.set(id, { token: t, expires: now + ttlMs });
    return t;
  }

  async unlock(id: string, token: string): Promise<void> {
    if (this.leases.get(id)?.token === token) this.leases.delete(id);
  }

  async delete(id: string): Promise<void> {
    this.sessions.delete(id);
    this.leases.delete(id);
  }
}
