/**
 * What changed in the registry, once committed: the events replication and other consumers read. Each
 * names the repository and the content, never how the change arrived.
 */
export type Change =
  | {
      type: 'manifest.push';
      repository: string;
      digest: string;
      mediaType: string;
      size: number;
      tag?: string;
      subject?: string;
    }
  | { type: 'manifest.delete'; repository: string; digest: string }
  | { type: 'tag.delete'; repository: string; tag: string; digest?: string }
  | { type: 'blob.push'; repository: string; digest: string; size: number }
  | { type: 'blob.mount'; repository: string; digest: string; size: number; from: string }
  | { type: 'blob.delete'; repository: string; digest: string }
  | { type: 'artifact.stage'; repository: string; digest: string; from: string; to: string }
  | { type: 'artifact.compromised'; repository: string; digest: string };

export type ChangeListener = (change: Change & { actor: string }) => void | Promise<void>;

/**
 * The in-process feed of committed changes. Listeners run after the change is durable and in the audit
 * log; a listener that must not miss one across a crash reads the audit log from its own position (the
 * log holds every change in order), and uses the feed only to wake up.
 */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async publish(change: Change, actor: string): Promise<void> {
    for (const l of this.listeners) await l({ ...change, actor });
  }
}
