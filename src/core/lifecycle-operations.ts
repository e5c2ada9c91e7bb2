import { OciError } from '../oci/errors';
import type { ArtifactIndex, ArtifactView } from '../catalog/artifact-index';
import type { Actor } from './actor';
import type { RegistryHooks } from './hooks';
import type { CompromiseMark, StageMoved, StageMoveIntent } from './intents';

type EffectErrors = (operation: string, effect: string, err: unknown) => void;

/** Lifecycle moves (draft → candidate → approved → deprecated → retired) and compromise marks. */
export class LifecycleOperations {
  constructor(
    private readonly artifacts: Pick<ArtifactIndex, 'transition' | 'markCompromised'>,
    private readonly hooks: RegistryHooks,
    private readonly onEffectError: EffectErrors,
  ) {}

  /**
   * Moves an artifact (or records an approval) once the checks decided where it ends. The move is a
   * compare-and-set on its stage, so two approvers acting at once cannot both move it (CONFLICT).
   */
  async move(actor: Actor, artifact: ArtifactView, to: string, reason?: string): Promise<StageMoved> {
    const intent: StageMoveIntent = { artifact, to, ...(reason ? { reason } : {}) };
    await this.hooks.stageMove.runChecks(intent, actor);
    const verdict = intent.verdict;
    if (!verdict) throw new Error('stage.move: no governance hook decided the move');
    const from = artifact.stage;
    const approving = to === 'approved' && from === 'candidate';
    const done = await this.artifacts
      .transition(artifact.repository, artifact.digest, {
        from,
        to: verdict.stage,
        by: actor.id,
        ...(reason ? { reason } : {}),
        ...(approving ? { approval: actor.id } : {}),
        clearApprovals: verdict.stage === 'draft',
      })
      .catch(() => false);
    if (!done)
      throw new OciError('CONFLICT', 'the artifact changed stage meanwhile; read it again and retry', {
        repository: artifact.repository,
        digest: artifact.digest,
      });
    const moved: StageMoved = { ...intent, verdict, moved: verdict.stage !== from, approving };
    await this.hooks.stageMove.runEffects(moved, actor, this.onEffectError);
    return moved;
  }

  /** Flags an artifact as compromised; the impact query then lists what was built from it. */
  async markCompromised(actor: Actor, artifact: ArtifactView, reason: string): Promise<void> {
    const mark: CompromiseMark = { artifact, reason };
    await this.hooks.compromise.runChecks(mark, actor);
    await this.artifacts.markCompromised(artifact.repository, artifact.digest, reason, Date.now());
    await this.hooks.compromise.runEffects(mark, actor, this.onEffectError);
  }
}
