import YAML from 'yaml';
import type { z } from 'zod';

/**
 * A YAML file beside the policies, validated against its schema; every problem is reported as one
 * message naming the file and the path of each field, through the caller's error class.
 */
export function parseYamlDocument<S extends z.ZodTypeAny>(
  schema: S,
  text: string,
  source: string,
  fail: (message: string) => Error,
): z.output<S> {
  let doc: unknown;
  try {
    doc = YAML.parse(text) ?? {};
  } catch (err) {
    throw fail(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const r = schema.safeParse(doc);
  if (!r.success)
    throw fail(
      `${source}: ${r.error.issues.map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}
