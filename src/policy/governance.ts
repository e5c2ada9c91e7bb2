import { repositoryMatches } from '../oci/repository-pattern';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseYamlDocument } from './yaml-document';
import { z } from 'zod';
import { BUILTIN_POLICY_DIR } from './defaults';
import { existing, ReloadingFile } from './reloading-file';

export const STAGES = ['draft', 'candidate', 'approved', 'deprecated', 'retired'] as const;
export type Stage = (typeof STAGES)[number];

export const REQUIRABLE_FIELDS = [
  'name',
  'version',
  'licenses',
  'creators',
  'datasets',
  'baseModel',
  'trainingCode',
  'pipeline',
  'framework',
  'description',
] as const;

const pattern = z.string().min(1).max(300);
const LifecycleRule = z
  .object({
    repositories: z.array(pattern).min(1).default(['**']),
    fourEyes: z.boolean().default(true),
    approvals: z.number().int().min(1).max(10).default(1),
    requiredFields: z.array(z.enum(REQUIRABLE_FIELDS)).default([]),
    metrics: z
      .record(z.string().min(1), z.object({ min: z.number().optional(), max: z.number().optional() }).strict())
      .default({}),
    requiredSignatures: z.number().int().min(0).default(0),
    requiredAttestations: z.array(z.string().min(1)).default([]),
  })
  .strict();
const Window = z
  .object({
    days: z.array(z.number().int().min(0).max(6)).min(1).default([1, 2, 3, 4, 5]),
    fromHour: z.number().int().min(0).max(23),
    toHour: z.number().int().min(1).max(24),
    timezone: z.string().default('UTC'),
  })
  .strict()
  .refine((w) => w.fromHour < w.toHour, { message: 'fromHour must be before toHour' })
  .refine((w) => isTimeZone(w.timezone), { message: 'unknown timezone' });
const GovernanceSchema = z
  .object({
    lifecycle: z.array(LifecycleRule).default([{}]),
    sensitive: z
      .object({
        labels: z.array(z.string().min(1)).default(['sensitive', 'restricted']),
        approvals: z.number().int().min(1).max(10).default(2),
        window: Window.optional(),
      })
      .strict()
      .default({}),
    immutableTags: z
      .array(
        z
          .object({
            repositories: z.array(pattern).min(1).default(['**']),
            tags: z.string().min(1).refine(isRegExp, { message: 'not a valid regular expression' }),
          })
          .strict(),
      )
      .default([]),
    retention: z
      .array(
        z
          .object({ repositories: z.array(pattern).min(1).default(['**']), draftsOlderThanDays: z.number().positive() })
          .strict(),
      )
      .default([]),
    quotas: z
      .array(
        z
          .object({
            namespace: z.string().regex(/^[a-z0-9]+([._/-][a-z0-9]+)*\/$/, 'a namespace ends with /, e.g. ml/'),
            maxBytes: z.number().int().positive().optional(),
            maxArtifacts: z.number().int().positive().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export type GovernanceRules = z.output<typeof GovernanceSchema>;
export type LifecycleRule = z.output<typeof LifecycleRule>;

function isRegExp(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export class GovernanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GovernanceError';
  }
}

export function parseGovernance(text: string, source: string): GovernanceRules {
  return parseYamlDocument(GovernanceSchema, text, source, (m) => new GovernanceError(m));
}

export { repositoryMatches };

export const GOVERNANCE_FILE = 'governance.yaml';

/**
 * The rules in force, from `<policyDir>/governance.yaml` (the built-in file when there is none), checked
 * for changes at most every `reloadSeconds`. A file that no longer parses keeps the previous rules in
 * force and is reported, like the Cedar policies beside it.
 */
export class Governance extends ReloadingFile<GovernanceRules> {
  constructor(policyDir: string | undefined, reloadSeconds: number, onError: (message: string) => void = () => {}) {
    super(
      () =>
        existing(policyDir ? path.join(policyDir, GOVERNANCE_FILE) : undefined) ??
        path.join(BUILTIN_POLICY_DIR, GOVERNANCE_FILE),
      (file) => parseGovernance(readFileSync(file!, 'utf8'), file!),
      reloadSeconds,
      'governance rules',
      onError,
    );
  }
}

export function lifecycleRuleFor(rules: GovernanceRules, repository: string): LifecycleRule {
  return (
    rules.lifecycle.find((r) => r.repositories.some((p) => repositoryMatches(p, repository))) ?? LifecycleRule.parse({})
  );
}

const tagPatterns = new Map<string, RegExp>();

function tagPattern(source: string): RegExp {
  let re = tagPatterns.get(source);
  if (!re) {
    re = new RegExp(source);
    if (tagPatterns.size > 1000) tagPatterns.clear();
    tagPatterns.set(source, re);
  }
  return re;
}

export function immutableTag(rules: GovernanceRules, repository: string, tag: string): string | undefined {
  const r = rules.immutableTags.find(
    (t) => t.repositories.some((p) => repositoryMatches(p, repository)) && tagPattern(t.tags).test(tag),
  );
  return r?.tags;
}

export function quotaFor(rules: GovernanceRules, repository: string): GovernanceRules['quotas'][number] | undefined {
  // The most specific namespace wins.
  return rules.quotas
    .filter((q) => repository.startsWith(q.namespace))
    .sort((a, b) => b.namespace.length - a.namespace.length)[0];
}

/** Weekday (0 = Sunday) and hour at `now` in a time zone. */
export function localTime(now: Date, timeZone: string): { weekday: number; hour: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: 'numeric',
    hourCycle: 'h23',
  }).formatToParts(now);
  const wd = parts.find((p) => p.type === 'weekday')!.value;
  const hour = Number(parts.find((p) => p.type === 'hour')!.value);
  return { weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(wd), hour };
}
