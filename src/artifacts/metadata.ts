import { classify, FILEPATH_ANNOTATIONS, type ArtifactFamily, type ArtifactKind } from './media-types';
import { parseArtifactRef, type ArtifactRef } from './references';

/** What Cairn knows about an artifact beyond its bytes: typed, searchable, the provenance an auditor asks for. */
export interface ArtifactMetadata {
  kind: ArtifactKind;
  family: ArtifactFamily;
  artifactType?: string;
  configMediaType?: string;
  name?: string;
  version?: string;
  description?: string;
  framework?: string;
  format?: string;
  architecture?: string;
  paramSize?: string;
  licenses: string[];
  creators: string[];
  createdAt?: string;
  metrics: Record<string, number>;
  /** Datasets a model was trained or evaluated on. */
  datasets: ArtifactRef[];
  baseModel?: ArtifactRef;
  /** Datasets (or models) this one was derived from. */
  derivedFrom: ArtifactRef[];
  sources: { uri: string; digest?: string }[];
  preprocessing: string[];
  trainingCode?: { repository?: string; commit?: string };
  pipeline?: { url?: string; id?: string };
  sensitivity?: string;
  records?: number;
  files: { path: string; digest: string; size: number; mediaType: string }[];
  /** The identity that first pushed it. */
  pushedBy: string;
  /** Claims of the CI identity (OIDC) that pushed it: repository, commit, workflow, run. */
  ci?: Record<string, string>;
}

/** A problem with what the manifest declares, naming where it is. */
export class MetadataProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'MetadataProblem';
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const strings = (v: unknown): string[] =>
  Array.isArray(v)
    ? v.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim())
    : typeof v === 'string' && v.trim()
      ? [v.trim()]
      : [];
const list = (v: string | undefined): string[] =>
  v
    ? v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [];

function refs(values: string[], field: string): ArtifactRef[] {
  return values.map((v) => {
    const r = parseArtifactRef(v);
    if (!r)
      throw new MetadataProblem(
        field,
        `${JSON.stringify(v.slice(0, 200))} is not a reference by digest (sha256:… or <repository>@sha256:…)`,
      );
    return r;
  });
}

function metricsFrom(a: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  const json = a['org.cairn.metrics'];
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new MetadataProblem(
        'annotations/org.cairn.metrics',
        'must be a JSON object of metric name to number, e.g. {"accuracy":0.93}',
      );
    }
    if (!isObject(parsed))
      throw new MetadataProblem('annotations/org.cairn.metrics', 'must be a JSON object of metric name to number');
    for (const [k, v] of Object.entries(parsed)) {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new MetadataProblem(`annotations/org.cairn.metrics/${k}`, 'must be a finite number');
      out[k] = v;
    }
  }
  for (const [k, v] of Object.entries(a)) {
    if (!k.startsWith('org.cairn.metric.')) continue;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new MetadataProblem(`annotations/${k}`, 'must be a number');
    out[k.slice('org.cairn.metric.'.length)] = n;
  }
  for (const k of Object.keys(out)) {
    if (!/^[A-Za-z0-9_.:/-]{1,64}$/.test(k))
      throw new MetadataProblem(`metrics/${k.slice(0, 80)}`, 'metric names are 1-64 letters, digits and _ . : / -');
  }
  return out;
}

function preprocessingFrom(v: string | undefined): string[] {
  if (v === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(v);
    if (Array.isArray(parsed)) return parsed.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  } catch {
    // Free text is fine: one step.
  }
  return [v];
}

/** CI claims worth keeping from an OIDC token: where the code came from and which run pushed it. */
function ciProvenance(ci: Record<string, string> | undefined): {
  trainingCode?: { repository?: string; commit?: string };
  pipeline?: { url?: string; id?: string };
} {
  if (!ci) return {};
  const repository = ci.repository ?? ci.project_path;
  const server = ci.iss?.startsWith('https://token.actions.githubusercontent.com') ? 'https://github.com' : undefined;
  const runId = ci.run_id ?? ci.pipeline_id;
  const url = ci.run_id && repository && server ? `${server}/${repository}/actions/runs/${ci.run_id}` : undefined;
  return {
    ...(repository || ci.sha
      ? { trainingCode: { ...(repository ? { repository } : {}), ...(ci.sha ? { commit: ci.sha } : {}) } }
      : {}),
    ...(runId ? { pipeline: { ...(url ? { url } : {}), id: runId } } : {}),
  };
}

/**
 * Extracts the metadata of a manifest: from its config (ModelPack under either name, KitOps Kitfile,
 * Docker model config, Cairn dataset config), its annotations (`org.opencontainers.*`, `org.cairn.*`),
 * and the identity that pushed it. Annotations win over the config, the config over CI claims: what
 * the publisher stated explicitly is what stands.
 */
export function extractMetadata(input: {
  mediaType: string;
  artifactType?: string;
  configMediaType?: string;
  config?: unknown;
  annotations?: Record<string, string>;
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  pushedBy: string;
  ci?: Record<string, string>;
}): ArtifactMetadata {
  const a = input.annotations ?? {};
  const { kind, family } = classify(input.artifactType, input.configMediaType, input.mediaType);
  const c = isObject(input.config) ? input.config : {};
  const m: ArtifactMetadata = {
    kind,
    family,
    ...(input.artifactType ? { artifactType: input.artifactType } : {}),
    ...(input.configMediaType ? { configMediaType: input.configMediaType } : {}),
    licenses: [],
    creators: [],
    metrics: {},
    datasets: [],
    derivedFrom: [],
    sources: [],
    preprocessing: [],
    files: [],
    pushedBy: input.pushedBy,
    ...(input.ci && Object.keys(input.ci).length ? { ci: input.ci } : {}),
  };

  if (family === 'modelpack' || family === 'modelpack-cnai') {
    const d = isObject(c.descriptor) ? c.descriptor : {};
    const cfg = isObject(c.config) ? c.config : {};
    Object.assign(
      m,
      defined({
        name: str(d.name),
        version: str(d.version),
        description: str(d.description) ?? str(d.title),
        createdAt: str(d.createdAt),
        format: str(cfg.format),
        framework: str(cfg.format),
        architecture: str(cfg.architecture),
        paramSize: str(cfg.paramSize),
      }),
    );
    m.licenses = strings(d.licenses);
    m.creators = strings(d.authors);
    if (str(d.sourceURL) || str(d.revision))
      m.trainingCode = defined({ repository: str(d.sourceURL), commit: str(d.revision) });
  } else if (family === 'kitops') {
    const pkg = isObject(c.package) ? c.package : {};
    const model = isObject(c.model) ? c.model : {};
    Object.assign(
      m,
      defined({
        name: str(pkg.name) ?? str(model.name),
        version: str(pkg.version) ?? str(model.version),
        description: str(pkg.description) ?? str(model.description),
        framework: str(model.framework),
      }),
    );
    m.licenses = [...new Set([...strings(pkg.license), ...strings(model.license)])];
    m.creators = strings(pkg.authors);
  } else if (family === 'docker-ai') {
    const cfg = isObject(c.config) ? c.config : {};
    const d = isObject(c.descriptor) ? c.descriptor : {};
    Object.assign(
      m,
      defined({
        format: str(cfg.format),
        framework: str(cfg.format),
        architecture: str(cfg.architecture),
        paramSize: str(cfg.parameters),
        createdAt: str(d.created),
      }),
    );
  } else if (family === 'cairn-dataset') {
    Object.assign(
      m,
      defined({
        name: str(c.name),
        version: str(c.version),
        description: str(c.description),
        createdAt: str(c.createdAt),
        format: str(c.format),
        sensitivity: str(c.sensitivity),
      }),
    );
    if (typeof c.records === 'number') m.records = c.records;
    m.licenses = strings(c.licenses);
    m.creators = strings(c.creators);
    m.derivedFrom = refs(strings(c.derivedFrom), 'config/derivedFrom');
    if (Array.isArray(c.sources))
      m.sources = c.sources
        .filter(isObject)
        .map((s) => defined({ uri: String(s.uri), digest: str(s.digest) }) as { uri: string; digest?: string });
    if (Array.isArray(c.preprocessing))
      m.preprocessing = c.preprocessing
        .filter(isObject)
        .map((p) => [str(p.name), str(p.description)].filter(Boolean).join(': '));
  }

  // Annotations: the OCI pre-defined keys, then Cairn's own.
  const o = (k: string) => str(a[`org.opencontainers.image.${k}`]);
  Object.assign(
    m,
    defined({
      name: str(a['org.cairn.name']) ?? m.name ?? o('title'),
      version: o('version') ?? m.version,
      description: o('description') ?? m.description,
      createdAt: o('created') ?? m.createdAt,
    }),
  );
  if (o('licenses')) m.licenses = [o('licenses')!];
  if (o('authors')) m.creators = list(o('authors'));
  const framework = str(a['org.cairn.framework']);
  if (framework) m.framework = framework;
  const sensitivity = str(a['org.cairn.sensitivity']);
  if (sensitivity) m.sensitivity = sensitivity;
  m.metrics = metricsFrom(a);
  m.datasets = refs(list(a['org.cairn.datasets']), 'annotations/org.cairn.datasets');
  const base = str(a['org.cairn.base-model']);
  if (base) m.baseModel = refs([base], 'annotations/org.cairn.base-model')[0]!;
  const derived = list(a['org.cairn.derived-from']);
  if (derived.length) m.derivedFrom = [...m.derivedFrom, ...refs(derived, 'annotations/org.cairn.derived-from')];
  const pre = preprocessingFrom(a['org.cairn.preprocessing']);
  if (pre.length) m.preprocessing = pre;

  const fromCi = ciProvenance(input.ci);
  const code = defined({
    repository:
      str(a['org.cairn.training.repository']) ??
      o('source') ??
      m.trainingCode?.repository ??
      fromCi.trainingCode?.repository,
    commit:
      str(a['org.cairn.training.commit']) ?? o('revision') ?? m.trainingCode?.commit ?? fromCi.trainingCode?.commit,
  });
  if (Object.keys(code).length) m.trainingCode = code;
  else delete m.trainingCode;
  const pipeline = defined({
    url: str(a['org.cairn.pipeline.url']) ?? fromCi.pipeline?.url,
    id: str(a['org.cairn.pipeline.id']) ?? fromCi.pipeline?.id,
  });
  if (Object.keys(pipeline).length) m.pipeline = pipeline;

  for (const l of input.layers.slice(0, 10_000)) {
    const la = l.annotations ?? {};
    const p = FILEPATH_ANNOTATIONS.map((k) => la[k]).find((v) => v !== undefined);
    if (p) m.files.push({ path: p, digest: l.digest, size: l.size, mediaType: l.mediaType });
  }
  return m;
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/** The lineage edges an artifact declares: what it names by digest, and why. */
export function lineageEdges(m: ArtifactMetadata, subject?: string): { relation: string; target: ArtifactRef }[] {
  const edges: { relation: string; target: ArtifactRef }[] = [];
  for (const d of m.datasets) edges.push({ relation: 'trained-on', target: d });
  if (m.baseModel) edges.push({ relation: 'fine-tuned-from', target: m.baseModel });
  for (const d of m.derivedFrom) edges.push({ relation: 'derived-from', target: d });
  if (subject) edges.push({ relation: 'subject', target: { digest: subject } });
  const seen = new Set<string>();
  return edges.filter((e) => {
    const k = `${e.relation} ${e.target.digest}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}
