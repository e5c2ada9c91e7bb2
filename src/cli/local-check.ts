import { OciError } from '../oci/errors';
import { digestOf } from '../oci/digest';
import { systemActor, type Actor } from '../core/actor';
import { RegistryHooks } from '../core/hooks';
import { checkManifest } from '../core/manifest-operations';
import type { GovernanceRules } from '../policy/governance';
import { approvalReadiness } from '../policy/lifecycle-rules';
import { registerArtifactValidation } from '../artifacts/ingest';
import type { ArtifactMetadata } from '../artifacts/metadata';

export interface CheckResult {
  digest?: string;
  metadata?: ArtifactMetadata;
  /** What the registry would refuse on push (MANIFEST_INVALID). */
  errors: string[];
  /** What would stop the artifact from being approved under the governance rules. */
  approval: string[];
}

// Schema and metadata refusals are said in full by their message; a parse error names its field in the detail.
const errorText = (err: OciError) =>
  err.code === 'MANIFEST_INVALID' && (err.detail as { problems?: unknown } | undefined)?.problems
    ? err.message
    : err.message + (err.detail ? ` ${JSON.stringify(err.detail)}` : '');

/**
 * Runs, on a manifest and its config, the registry's own validation hook (the one a push runs, through
 * the core) and the approval rules, with the same messages: `cairn policy check` in a pre-commit hook or
 * CI step fails before anything is pushed.
 */
export async function checkArtifact(input: {
  manifest: Buffer;
  config?: Buffer;
  repository: string;
  rules: GovernanceRules;
  publisher?: string;
}): Promise<CheckResult> {
  const out: CheckResult = { errors: [], approval: [] };
  const hooks = new RegistryHooks();
  registerArtifactValidation(hooks);
  const actor: Actor = { ...systemActor(), id: input.publisher ?? 'local', kind: 'user' };
  // The config given on the command line stands for the blob the registry would read from the repository.
  const readBlob = async (digest: string): Promise<Buffer> => {
    if (!input.config)
      throw new OciError('MANIFEST_BLOB_UNKNOWN', `config ${digest} not given: give it with --config-blob to check it`);
    if (digestOf(input.config) !== digest)
      throw new OciError('MANIFEST_INVALID', `config bytes do not match the manifest's config digest ${digest}`);
    return input.config;
  };
  let metadata: ArtifactMetadata;
  try {
    const intent = await checkManifest(
      hooks,
      actor,
      { repository: input.repository, reference: 'latest', content: input.manifest },
      readBlob,
      ['validation'],
    );
    out.digest = intent.digest;
    metadata = JSON.parse(intent.artifact!.metadata) as ArtifactMetadata;
  } catch (err) {
    if (!(err instanceof OciError)) throw err;
    out.digest = digestOf(input.manifest);
    out.errors.push(errorText(err));
    return out;
  }
  out.metadata = metadata;
  out.approval = approvalReadiness(input.rules, input.repository, metadata).map((p) => p.message);
  return out;
}
