import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { ArtifactTypes } from './media-types';
import { officialModelConfig, type ConfigView } from './legacy-model-config';

/** The published schemas live in docs/schemas, the one copy both the docs and the server use. */
export const SCHEMA_DIR = path.join(__dirname, '..', '..', 'docs', 'schemas');

export const CONFIG_SCHEMAS: Record<
  string,
  { file: string; kind: 'model' | 'dataset'; view?: (doc: unknown) => ConfigView }
> = {
  [ArtifactTypes.modelConfig]: { file: 'model-config.v1.schema.json', kind: 'model', view: officialModelConfig },
  // ModelPack before its CNCF rename: the same document under the old name.
  [ArtifactTypes.cnaiModelConfig]: { file: 'model-config.v1.schema.json', kind: 'model', view: officialModelConfig },
  [ArtifactTypes.datasetConfig]: { file: 'dataset-config.v1.schema.json', kind: 'dataset' },
};

export interface SchemaProblem {
  /** JSON pointer of the offending field in the config, `/` for the document itself. */
  field: string;
  message: string;
}

let compiled: Map<string, ValidateFunction> | undefined;

function validators(): Map<string, ValidateFunction> {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats(ajv);
  const byFile = new Map<string, ValidateFunction>();
  compiled = new Map();
  for (const [mediaType, { file }] of Object.entries(CONFIG_SCHEMAS)) {
    if (!byFile.has(file))
      byFile.set(file, ajv.compile(JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as object));
    compiled.set(mediaType, byFile.get(file)!);
  }
  return compiled;
}

export function schemaFile(name: string): string | undefined {
  const files = new Set(Object.values(CONFIG_SCHEMAS).map((s) => s.file));
  return files.has(name) ? readFileSync(path.join(SCHEMA_DIR, name), 'utf8') : undefined;
}

export function listSchemas(): { mediaType: string; schema: string }[] {
  return Object.entries(CONFIG_SCHEMAS).map(([mediaType, s]) => ({ mediaType, schema: s.file }));
}

function describe(e: ErrorObject): SchemaProblem {
  let field = e.instancePath || '/';
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    field = `${e.instancePath}/${extra}`;
    message = 'is not a known field';
  } else if (e.keyword === 'required') {
    field = `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`;
    message = 'is required';
  }
  return { field, message };
}

/**
 * Validates a config document of a known media type. Returns the problems (empty when valid), each naming
 * the field, so the client is told what to fix rather than that something is wrong.
 */
export function validateConfig(mediaType: string, bytes: Buffer): SchemaProblem[] {
  const validate = validators().get(mediaType);
  if (!validate) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return [{ field: '/', message: `config is not valid JSON: ${(err as Error).message}` }];
  }
  const view = CONFIG_SCHEMAS[mediaType]?.view?.(doc) ?? { doc, renamed: [] };
  if (validate(view.doc)) return [];
  const seen = new Set<string>();
  // Problems name the fields as the client wrote them.
  const asWritten = (field: string) => {
    const hit = view.renamed.find(([official]) => field === official || field.startsWith(`${official}/`));
    return hit ? hit[1] + field.slice(hit[0].length) : field;
  };
  return (validate.errors ?? [])
    .map(describe)
    .map((p) => ({ ...p, field: asWritten(p.field) }))
    .filter((p) => {
      const k = `${p.field} ${p.message}`;
      return seen.has(k) ? false : (seen.add(k), true);
    });
}
