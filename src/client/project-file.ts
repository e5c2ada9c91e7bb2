import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { METADATA_FILES, PackError } from './walk';

const stringList = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (Array.isArray(v) ? v : [v]));
const step = z.union([
  z.string().min(1),
  z.object({ name: z.string().min(1), description: z.string().optional(), code: z.string().optional() }).strict(),
]);

/** What a `cairn.yaml` next to the files may say; the same fields as the push flags. */
const ProjectFileSchema = z
  .object({
    name: z.string().min(1),
    version: z.union([z.string().min(1), z.number()]).transform(String),
    description: z.string(),
    authors: stringList,
    creators: stringList,
    licenses: stringList,
    source: z.string().min(1),
    revision: z.string().min(1),
    framework: z.string().min(1),
    format: z.string().min(1),
    architecture: z.string().min(1),
    // ModelPack's `<count><scale-prefix>`, e.g. 6.7B or 100m.
    paramSize: z.string().regex(/^\d+(\.\d)?[QqTtBbMmKk]$/, 'must be <count><scale>, e.g. 7B, 6.7b or 100M'),
    precision: z.string().min(1),
    datasets: stringList,
    baseModel: z.string().min(1),
    derivedFrom: stringList,
    metrics: z.record(z.number().finite()),
    preprocessing: z.array(step),
    sensitivity: z.string().min(1),
    records: z.number().int().nonnegative(),
    sources: z.array(
      z.object({ uri: z.string().min(1), digest: z.string().optional(), description: z.string().optional() }).strict(),
    ),
    splits: z.record(
      z.object({ records: z.number().int().nonnegative().optional(), files: z.array(z.string()).optional() }).strict(),
    ),
    training: z.object({ repository: z.string().min(1).optional(), commit: z.string().min(1).optional() }).strict(),
    annotations: z.record(z.union([z.string(), z.number(), z.boolean()]).transform(String)),
  })
  .partial();

export type ProjectFile = z.output<typeof ProjectFileSchema> & {
  /** `x-…` keys, carried into a dataset config as extensions. */
  extensions: Record<string, unknown>;
};

/** Reads `cairn.yaml` (or `cairn.yml`) from the directory, if there is one; a mistake in it stops the push. */
export async function loadProjectFile(dir: string): Promise<ProjectFile | undefined> {
  for (const name of METADATA_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new PackError(`${file} is not valid YAML: ${(err as Error).message}`);
    }
    if (doc === null || doc === undefined) return { extensions: {} };
    if (typeof doc !== 'object' || Array.isArray(doc))
      throw new PackError(`${file} must be a mapping of fields (name, version, licenses, …)`);
    const extensions: Record<string, unknown> = {};
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      if (k.startsWith('x-')) extensions[k] = v;
      else fields[k] = v;
    }
    const known = Object.keys(ProjectFileSchema.shape);
    const unknown = Object.keys(fields).filter((k) => !known.includes(k));
    if (unknown.length) {
      throw new PackError(
        `${file}: unknown field(s) ${unknown.join(', ')}; known: ${known.join(', ')} (and x-… extensions)`,
      );
    }
    const parsed = ProjectFileSchema.safeParse(fields);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new PackError(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return { ...parsed.data, extensions };
  }
  return undefined;
}
