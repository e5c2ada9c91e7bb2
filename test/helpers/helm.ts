import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';

const exec = promisify(execFile);
const SOURCE = path.join(__dirname, '..', 'tools', 'helm-render');
export const CHART = path.join(__dirname, '..', '..', 'charts', 'cairn');

/** A rendered Kubernetes object, as loosely typed as YAML is. */

export type K8sObject = Record<string, any> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; namespace?: string };
};

export interface Rendered {
  text: string;
  objects: { source: string; object: K8sObject }[];
  /** The one object of this kind (and name, when given); throws when absent or ambiguous. */
  one(kind: string, name?: string): K8sObject;
  kinds(): string[];
}

/**
 * Whether this machine can render the chart: Go and the sprig library from Debian's packages
 * (golang-go, golang-github-masterminds-sprig-dev, golang-github-ghodss-yaml-dev; .ci/run installs them).
 */
export function canRender(): boolean {
  return spawnSync('go', ['version']).status === 0 && existsSync('/usr/share/gocode/src/github.com/Masterminds/sprig');
}

let built: Promise<string> | undefined;

/** Builds test/tools/helm-render once per source version (cached in the temp directory). */
function renderer(): Promise<string> {
  return (built ??= (async () => {
    const src = readFileSync(path.join(SOURCE, 'main.go'));
    const bin = path.join(
      os.tmpdir(),
      `cairn-helm-render-${createHash('sha256').update(src).digest('hex').slice(0, 12)}`,
    );
    if (existsSync(bin)) return bin;
    const cache = path.join(os.tmpdir(), 'cairn-go-cache');
    await mkdir(cache, { recursive: true });
    await exec('go', ['build', '-o', bin, '.'], {
      cwd: SOURCE,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: cache, GOFLAGS: '' },
      timeout: 300_000,
    });
    return bin;
  })());
}

/** `helm template <release> charts/cairn -n <namespace> -f <values>`; rejects with the chart's failure message. */
export async function renderChart(
  values: object,
  options: { release?: string; namespace?: string; kubeVersion?: string; valuesFile?: string } = {},
): Promise<Rendered> {
  const bin = await renderer();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-chart-'));
  try {
    const file = path.join(dir, 'values.yaml');
    await writeFile(file, stringify(values));
    const files = options.valuesFile ? [options.valuesFile, file] : [file];
    const env = { ...process.env, HELM_RENDER_KUBE_VERSION: options.kubeVersion ?? 'v1.30.0' };
    let text: string;
    try {
      text = (await exec(bin, [CHART, options.release ?? 'reg', options.namespace ?? 'registry', ...files], { env }))
        .stdout;
    } catch (err) {
      throw new Error(((err as { stderr?: string }).stderr ?? String(err)).trim(), { cause: err });
    }
    return parseRendered(text);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function parseRendered(text: string): Rendered {
  const objects = text
    .split(/^---$/m)
    .filter((d) => d.trim())
    .map((d) => {
      const source = /^# Source: (.+)$/m.exec(d)?.[1] ?? '(unknown)';
      let object: K8sObject;
      try {
        object = parse(d) as K8sObject;
      } catch (err) {
        throw new Error(`${source} is not valid YAML: ${(err as Error).message}\n${d}`, { cause: err });
      }
      return { source, object };
    })
    // A part holding only comments (a file's header) is no object.
    .filter((o) => o.object !== null);
  return {
    text,
    objects,
    kinds: () => objects.map((o) => o.object.kind).sort(),
    one(kind, name) {
      const found = objects.filter(
        (o) => o.object.kind === kind && (name === undefined || o.object.metadata?.name === name),
      );
      if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
      return found[0]!.object;
    },
  };
}
