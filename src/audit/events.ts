/**
 * What an audit event records (docs/audit.md). `seq` and `time` are set by the log when it appends;
 * everything else by the caller. Events are stored as RFC 8785 canonical JSON, the leaf bytes.
 */
export interface AuditEvent {
  seq: number;
  time: string;
  /** e.g. blob.push, manifest.push, tag.set, manifest.delete, tag.delete, blob.mount, blob.delete, pull, login, access.denied, admin.* */
  type: string;
  identity?: string;
  source?: string;
  userAgent?: string;
  action?: string;
  repository?: string;
  digest?: string;
  tag?: string;
  /** allow or deny, for decisions; omitted for plain state changes. */
  decision?: 'allow' | 'deny';
  requestId?: string;
  /** The tag's previous digest on a move; sizes; reasons. */
  detail?: Record<string, string | number | boolean | null>;
}

export type NewEvent = Omit<AuditEvent, 'seq' | 'time'>;
