/**
 * An upstream the registry reads through (a pull-through cache): asked before a manifest read of a
 * repository it covers, so that what is read is in the catalog and goes through the same checks (trust,
 * lifecycle) and effects (the pull's audit event) as anything pushed.
 */
export interface ReadThrough {
  covers(repository: string): boolean;
  /** Brings the manifest (a tag or a digest) in from the upstream when it is missing, or its tag is due for a check. */
  manifest(repository: string, reference: string): Promise<void>;
}
