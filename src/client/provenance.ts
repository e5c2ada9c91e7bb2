import type { ProjectFile } from './project-file';
import { PackError } from './walk';

export interface PreprocessingStep {
  name: string;
  description?: string;
  code?: string;
}

/** Everything known about an artifact, merged from flags, cairn.yaml and the CI environment. */
export interface ArtifactMetadata {
  name: string;
  version?: string;
  description?: string;
  authors: string[];
  licenses: string[];
  createdAt: string;
  source?: string;
  revision?: string;
  framework?: string;
  format?: string;
  architecture?: string;
  paramSize?: string;
  precision?: string;
  /** Lineage references as given (resolved to digests before packing). */
  datasets: string[];
  baseModel?: string;
  derivedFrom: string[];
  metrics: Record<string, number>;
  preprocessing: PreprocessingStep[];
  sensitivity?: string;
  trainingRepository?: string;
  trainingCommit?: string;
  pipelineUrl?: string;
  pipelineId?: string;
  records?: number;
  sources?: { uri: string; digest?: string; description?: string }[];
  /** Dataset splits (train / test …) from cairn.yaml. */
  splits?: Record<string, { records?: number; files?: string[] }>;
  /** `--annotation k=v` and cairn.yaml `annotations`: added last, so they win. */
  annotations: Record<string, string>;
  extensions: Record<string, unknown>;
}

/** The push flags that carry metadata (commander's camel-cased names). */
export interface MetadataFlags {
  name?: string;
  version?: string;
  description?: string;
  license?: string[];
  author?: string[];
  source?: string;
  revision?: string;
  framework?: string;
  format?: string;
  dataset?: string[];
  baseModel?: string;
  derivedFrom?: string[];
  metric?: string[];
  preprocessing?: string[];
  sensitivity?: string;
  annotation?: string[];
}

/** What a CI run says about itself, so that researchers need not type it. */
export interface CiProvenance {
  repository?: string;
  commit?: string;
  pipelineUrl?: string;
  pipelineId?: string;
}

export function ciProvenance(env: NodeJS.ProcessEnv = process.env): CiProvenance {
  if (env.GITHUB_REPOSITORY && env.GITHUB_SERVER_URL) {
    const repository = `${env.GITHUB_SERVER_URL.replace(/\/+$/, '')}/${env.GITHUB_REPOSITORY}`;
    return {
      repository,
      commit: env.GITHUB_SHA || undefined,
      pipelineUrl: env.GITHUB_RUN_ID ? `${repository}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
      pipelineId: env.GITHUB_RUN_ID || undefined,
    };
  }
  if (env.CI_PROJECT_URL || env.CI_PIPELINE_URL) {
    return {
      repository: env.CI_PROJECT_URL || undefined,
      commit: env.CI_COMMIT_SHA || undefined,
      pipelineUrl: env.CI_PIPELINE_URL || undefined,
      pipelineId: env.CI_PIPELINE_ID || undefined,
    };
  }
  return {};
}

function keyValue(flag: string, raw: string): [string, string] {
  const i = raw.indexOf('=');
  if (i <= 0) throw new PackError(`${flag} ${raw}: expected name=value`);
  return [raw.slice(0, i).trim(), raw.slice(i + 1)];
}

function parseMetrics(raw: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of raw ?? []) {
    const [name, value] = keyValue('--metric', item);
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n))
      throw new PackError(`--metric ${item}: the value must be a number (e.g. --metric accuracy=0.93)`);
    out[name] = n;
  }
  return out;
}

/** Reproducible builds set SOURCE_DATE_EPOCH; honour it so that the same inputs give the same digest. */
function creationTime(env: NodeJS.ProcessEnv): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date().toISOString();
}

const nonEmpty = <T>(list: T[] | undefined): T[] | undefined => (list && list.length ? list : undefined);

/** Flags win over cairn.yaml, which wins over what the CI environment says. */
export function resolveMetadata(input: {
  flags: MetadataFlags;
  file?: ProjectFile;
  env?: NodeJS.ProcessEnv;
  defaultName: string;
}): ArtifactMetadata {
  const { flags } = input;
  const file: Partial<ProjectFile> = input.file ?? {};
  const env = input.env ?? process.env;
  const ci = ciProvenance(env);
  const steps = (flags.preprocessing?.length ? flags.preprocessing : (file.preprocessing ?? [])).map((s) =>
    typeof s === 'string' ? { name: s } : s,
  );
  const annotations: Record<string, string> = { ...(file.annotations ?? {}) };
  for (const item of flags.annotation ?? []) {
    const [k, v] = keyValue('--annotation', item);
    annotations[k] = v;
  }
  const trainingRepository = file.training?.repository ?? ci.repository;
  const trainingCommit = file.training?.commit ?? ci.commit;
  return {
    name: flags.name ?? file.name ?? input.defaultName,
    version: flags.version ?? file.version,
    description: flags.description ?? file.description,
    authors: nonEmpty(flags.author) ?? nonEmpty(file.authors) ?? file.creators ?? [],
    licenses: nonEmpty(flags.license) ?? file.licenses ?? [],
    createdAt: creationTime(env),
    source: flags.source ?? file.source ?? trainingRepository,
    revision: flags.revision ?? file.revision ?? trainingCommit,
    framework: flags.framework ?? file.framework,
    format: flags.format ?? file.format,
    architecture: file.architecture,
    paramSize: file.paramSize,
    precision: file.precision,
    datasets: nonEmpty(flags.dataset) ?? file.datasets ?? [],
    baseModel: flags.baseModel ?? file.baseModel,
    derivedFrom: nonEmpty(flags.derivedFrom) ?? file.derivedFrom ?? [],
    metrics: { ...(file.metrics ?? {}), ...parseMetrics(flags.metric) },
    preprocessing: steps,
    sensitivity: flags.sensitivity ?? file.sensitivity,
    trainingRepository,
    trainingCommit,
    pipelineUrl: ci.pipelineUrl,
    pipelineId: ci.pipelineId,
    records: file.records,
    sources: file.sources,
    splits: file.splits,
    annotations,
    extensions: file.extensions ?? {},
  };
}

/** Several licenses all apply: an SPDX conjunction (compound parts parenthesised). */
export function spdxConjunction(licenses: string[]): string {
  if (licenses.length === 1) return licenses[0]!;
  return licenses.map((l) => (/\s/.test(l.trim()) ? `(${l.trim()})` : l.trim())).join(' AND ');
}

/** The manifest annotations that carry provenance; absent values are left out, never empty. */
export function manifestAnnotations(meta: ArtifactMetadata): Record<string, string> {
  const a: Record<string, string | undefined> = {
    'org.opencontainers.image.created': meta.createdAt,
    'org.opencontainers.image.authors': meta.authors.length ? meta.authors.join(', ') : undefined,
    'org.opencontainers.image.licenses': meta.licenses.length ? spdxConjunction(meta.licenses) : undefined,
    'org.opencontainers.image.source': meta.source,
    'org.opencontainers.image.revision': meta.revision,
    'org.opencontainers.image.title': meta.name,
    'org.opencontainers.image.version': meta.version,
    'org.opencontainers.image.description': meta.description,
    'org.cairn.datasets': meta.datasets.length ? meta.datasets.join(',') : undefined,
    'org.cairn.base-model': meta.baseModel,
    'org.cairn.training.repository': meta.trainingRepository,
    'org.cairn.training.commit': meta.trainingCommit,
    'org.cairn.pipeline.url': meta.pipelineUrl,
    'org.cairn.pipeline.id': meta.pipelineId,
    'org.cairn.metrics': Object.keys(meta.metrics).length ? JSON.stringify(meta.metrics) : undefined,
    'org.cairn.framework': meta.framework,
    'org.cairn.preprocessing': meta.preprocessing.length
      ? JSON.stringify(meta.preprocessing.map((s) => s.name))
      : undefined,
    'org.cairn.sensitivity': meta.sensitivity,
    ...meta.annotations,
  };
  return Object.fromEntries(Object.entries(a).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}
