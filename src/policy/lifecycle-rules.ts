import type { ArtifactMetadata } from '../artifacts/metadata';
import type { Action } from '../auth/principal';
import { lifecycleRuleFor, localTime, type GovernanceRules, type Stage } from './governance';

/** The moves the lifecycle allows. `retired` is final. */
const TRANSITIONS: Record<Stage, Stage[]> = {
  draft: ['candidate', 'retired'],
  candidate: ['draft', 'approved', 'retired'],
  approved: ['deprecated', 'retired'],
  deprecated: ['approved', 'retired'],
  retired: [],
};

/** Publishing moves (to and from draft/candidate) are a publisher's; the rest an approver's. */
export function actionFor(to: Stage): Action {
  return to === 'draft' || to === 'candidate' ? 'push' : 'approve';
}

export interface RuleProblem {
  /** Which governance rule: four-eyes, required-field, metric-threshold, approval-window, … */
  rule: string;
  message: string;
  field?: string;
}

/** What must hold before `approved`, without regard to who asks: also what `cairn policy check` reports. */
export function approvalReadiness(rules: GovernanceRules, repository: string, m: ArtifactMetadata): RuleProblem[] {
  const rule = lifecycleRuleFor(rules, repository);
  const problems: RuleProblem[] = [];
  for (const f of rule.requiredFields) {
    const v = (m as unknown as Record<string, unknown>)[f];
    const present = Array.isArray(v)
      ? v.length > 0
      : typeof v === 'object' && v !== null
        ? Object.keys(v).length > 0
        : v !== undefined && v !== '';
    if (!present)
      problems.push({ rule: 'required-field', field: f, message: `metadata field "${f}" is required before approval` });
  }
  for (const [name, t] of Object.entries(rule.metrics)) {
    const v = m.metrics[name];
    if (v === undefined)
      problems.push({
        rule: 'metric-threshold',
        field: `metrics.${name}`,
        message: `evaluation metric "${name}" is required before approval (org.cairn.metrics)`,
      });
    else if (t.min !== undefined && v < t.min)
      problems.push({
        rule: 'metric-threshold',
        field: `metrics.${name}`,
        message: `evaluation metric "${name}" is ${v}, below the minimum ${t.min}`,
      });
    else if (t.max !== undefined && v > t.max)
      problems.push({
        rule: 'metric-threshold',
        field: `metrics.${name}`,
        message: `evaluation metric "${name}" is ${v}, above the maximum ${t.max}`,
      });
  }
  return problems;
}

export interface TransitionRequest {
  repository: string;
  from: Stage;
  to: Stage;
  metadata: ArtifactMetadata;
  /** Who asks. */
  actor: string;
  /** Who pushed the artifact. */
  publisher: string;
  /** Identities that have already approved it (while a candidate). */
  approvals: string[];
  /** The repository's sensitivity label, when it has one. */
  sensitivity?: string;
  now: Date;
  /** Verified signatures and attestation predicate types, once signature verification provides them. */
  evidence?: { signatures: number; attestations: string[] };
}

export type TransitionVerdict =
  | { ok: false; problems: RuleProblem[] }
  /** `stage` is where the artifact ends: an approval short of the required number leaves it a candidate. */
  | { ok: true; stage: Stage; approvals: string[]; required: number };

export function isSensitive(rules: GovernanceRules, m: ArtifactMetadata, label: string | undefined): boolean {
  return [label, m.sensitivity].some((l) => l !== undefined && rules.sensitive.labels.includes(l));
}

/** Decides a lifecycle move against the governance rules. Pure: the caller records and audits. */
export function evaluateTransition(rules: GovernanceRules, r: TransitionRequest): TransitionVerdict {
  if (!TRANSITIONS[r.from].includes(r.to)) {
    const allowed = TRANSITIONS[r.from];
    return {
      ok: false,
      problems: [
        {
          rule: 'transition',
          message: `cannot move from ${r.from} to ${r.to}${allowed.length ? ` (from ${r.from}: ${allowed.join(', ')})` : `: ${r.from} is final`}`,
        },
      ],
    };
  }
  if (r.to !== 'approved' || r.from === 'deprecated') return { ok: true, stage: r.to, approvals: [], required: 0 };

  const rule = lifecycleRuleFor(rules, r.repository);
  const problems = approvalReadiness(rules, r.repository, r.metadata);
  if (rule.requiredSignatures > 0 || rule.requiredAttestations.length > 0) {
    const e = r.evidence;
    if ((e?.signatures ?? 0) < rule.requiredSignatures)
      problems.push({
        rule: 'signature-required',
        message: `${rule.requiredSignatures} verified signature(s) required before approval, ${e?.signatures ?? 0} found`,
      });
    for (const a of rule.requiredAttestations) {
      if (!e?.attestations.includes(a))
        problems.push({
          rule: 'attestation-required',
          field: a,
          message: `a verified attestation of type ${a} is required before approval`,
        });
    }
  }
  if (rule.fourEyes && r.actor === r.publisher)
    problems.push({
      rule: 'four-eyes',
      message: `${r.actor} pushed this artifact and may not approve it; another identity must`,
    });
  if (r.approvals.includes(r.actor))
    problems.push({
      rule: 'four-eyes',
      message: `${r.actor} has already approved this artifact; another identity must`,
    });
  const sensitive = isSensitive(rules, r.metadata, r.sensitivity);
  const required = sensitive ? Math.max(rule.approvals, rules.sensitive.approvals) : rule.approvals;
  const w = rules.sensitive.window;
  if (sensitive && w) {
    const t = localTime(r.now, w.timezone);
    if (!w.days.includes(t.weekday) || t.hour < w.fromHour || t.hour >= w.toHour) {
      problems.push({
        rule: 'approval-window',
        message: `sensitive artifacts may be approved only on days ${w.days.join(',')} between ${w.fromHour}:00 and ${w.toHour}:00 ${w.timezone}`,
      });
    }
  }
  if (problems.length) return { ok: false, problems };
  const approvals = [...r.approvals, r.actor];
  return { ok: true, stage: approvals.length >= required ? 'approved' : 'candidate', approvals, required };
}
