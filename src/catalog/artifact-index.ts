/**
 * ArtifactIndex: what the catalog knows about artifacts beyond their manifests: kind and metadata for
 * search, lifecycle stage and approvals, lineage edges, namespace usage for quotas. One implementation
 * on Kysely (SQLite and PostgreSQL), checked by test/contracts/artifact-index.contract.ts.
 */
export interface ArtifactView {
  id: number;
  repository: string;
  digest: string;
  kind: string;
  family: string | null;
  name: string | null;
  version: string | null;
  framework: string | null;
  license: string | null;
  sensitivity: string | null;
  stage: string;
  stageReason: string | null;
  stageBy: string | null;
  stageAt: number | null;
  pushedBy: string;
  compromised: { at: number; reason: string } | null;
  totalSize: number;
  metadata: Record<string, unknown>;
  createdAt: number;
}

export interface LineageEdge {
  /** The artifact that names the target. */
  from: { repository: string; digest: string };
  relation: string;
  to: { repository?: string; digest: string };
}

export interface SearchQuery {
  /** Words the name or repository has, each matched as a prefix of a word (`bert` finds ml/bert-base). */
  text?: string;
  kind?: string;
  family?: string;
  framework?: string;
  license?: string;
  stage?: string;
  /** Repository name prefix (a namespace ends with /). */
  repository?: string;
  annotations?: { key: string; value?: string }[];
  metrics?: { name: string; op: '>=' | '<=' | '>' | '<' | '='; value: number }[];
  /** Artifacts with a lineage edge to this digest (trained on it, derived from it, signing it…). */
  references?: string;
  compromised?: boolean;
  /** Keyset pagination: results with id greater than this. */
  after?: number;
  limit: number;
}

export interface Transition {
  from: string;
  to: string;
  by: string;
  reason?: string;
  /** An approval to record (the stage may or may not change with it). */
  approval?: string;
  /** Whether the approvals recorded so far are dropped (leaving candidate for draft, say). */
  clearApprovals?: boolean;
}

export interface ArtifactIndex {
  get(repository: string, digest: string): Promise<ArtifactView | undefined>;
  /** Every artifact with one of these digests, in whichever repository. */
  byDigests(digests: string[]): Promise<ArtifactView[]>;
  approvals(artifactId: number): Promise<string[]>;
  tags(repository: string, digest: string): Promise<string[]>;
  /**
   * Applies a lifecycle move if the artifact is still at `t.from` (compare and set, so two approvers
   * acting at once cannot both move it). False when it was not.
   */
  transition(repository: string, digest: string, t: Transition): Promise<boolean>;
  markCompromised(repository: string, digest: string, reason: string, at: number): Promise<boolean>;
  /** Edges leaving these artifacts (what they name). */
  edgesFrom(nodes: { repository: string; digest: string }[]): Promise<LineageEdge[]>;
  /** Edges arriving at these digests (who names them). */
  edgesTo(digests: string[]): Promise<LineageEdge[]>;
  search(q: SearchQuery): Promise<ArtifactView[]>;
  /** Bytes linked and manifests stored in repositories under the namespace (`ml/`). */
  usage(namespace: string): Promise<{ bytes: number; artifacts: number }>;
  /** Model and dataset drafts created before `cutoff` that nothing names, oldest first. */
  staleDrafts(cutoff: number, limit: number): Promise<ArtifactView[]>;
}
