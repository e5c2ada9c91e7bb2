/**
 * ModelPack configs pushed with the snake_case keys of ModelPack's prose (docs/config.md says
 * `modelfs.diff_ids`, `capabilities.input_types`, …), which earlier Cairn versions and some tools wrote,
 * while ModelPack's Go types and JSON schema (what modctl marshals) use camelCase. Such configs keep
 * being accepted: this gives the view of one in the official names for validation. The stored bytes are
 * never rewritten (they are content-addressed); Cairn itself writes only the official form.
 */
const CAPABILITY_KEYS: Record<string, string> = {
  input_types: 'inputTypes',
  output_types: 'outputTypes',
  knowledge_cutoff: 'knowledgeCutoff',
  tool_usage: 'toolUsage',
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A view of a document for validation, and the JSON pointers it renamed (official → as written). */
export interface ConfigView {
  doc: unknown;
  renamed: [official: string, written: string][];
}

/** The config in official names (a copy; the input is not changed). Anything not legacy passes as it is. */
export function officialModelConfig(input: unknown): ConfigView {
  const renamed: [string, string][] = [];
  const rename = (o: Json, at: string, from: string, to: string): Json => {
    if (!(from in o) || to in o) return o;
    renamed.push([`${at}/${to}`, `${at}/${from}`]);
    const { [from]: value, ...rest } = o;
    return { ...rest, [to]: value };
  };
  if (!isObject(input)) return { doc: input, renamed };
  let out: Json = { ...input };
  if (isObject(out.modelfs)) out.modelfs = rename(out.modelfs, '/modelfs', 'diff_ids', 'diffIds');
  if (isObject(out.config) && isObject(out.config.capabilities)) {
    let caps = out.config.capabilities;
    for (const [from, to] of Object.entries(CAPABILITY_KEYS)) caps = rename(caps, '/config/capabilities', from, to);
    out.config = { ...out.config, capabilities: caps };
  }
  // Earlier Cairn versions accepted a free-form top-level `capabilities`; ModelPack has none there.
  if (isObject(out.capabilities)) {
    const { capabilities: _legacy, ...rest } = out;
    out = rest;
  }
  return { doc: out, renamed };
}
