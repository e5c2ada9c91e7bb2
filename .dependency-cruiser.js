/**
 * The layers of src/, written down (docs/architecture.md draws them): for each folder, the folders it may
 * import. A new import outside these lists fails `npm test`. No file may be part of an import cycle, and
 * no two folders may import each other.
 *
 * From the bottom: value types and stores (oci, config, observability, catalog, storage, sessions); the
 * audit log; the domain core (core/), which features plug into as checks and effects (artifacts, policy,
 * signing, integrity, maintenance, auth); HTTP (http/, distribution/ and artifacts/api/ handlers); the
 * server; the composition root (src/*.ts) and the CLI.
 */
const may = {
  oci: [],
  config: [],
  observability: [],
  catalog: [],
  // Key-encryption keys and the HSM: below everything that seals or signs with them.
  keys: [],
  storage: ['config', 'keys', 'oci'],
  sessions: ['config', 'storage'],
  audit: ['catalog', 'config', 'core', 'keys', 'observability'],
  core: ['catalog', 'observability', 'oci', 'storage'],
  artifacts: ['catalog', 'core', 'oci', 'storage'],
  auth: ['audit', 'catalog', 'config', 'observability'],
  policy: ['artifacts', 'audit', 'auth', 'catalog', 'core', 'observability', 'oci'],
  signing: ['artifacts', 'audit', 'catalog', 'core', 'keys', 'observability', 'oci', 'policy', 'storage'],
  integrity: ['audit', 'catalog', 'config', 'observability', 'oci', 'storage'],
  maintenance: ['audit', 'catalog', 'config', 'observability', 'policy', 'sessions', 'storage'],
  client: ['artifacts', 'keys', 'oci', 'signing'],
  // Pull-through caches: the client's protocol towards the upstream, stored through the core.
  proxy: ['catalog', 'client', 'config', 'core', 'observability', 'oci', 'storage'],
  // Push replication: the audit log as its outbox, the client's protocol towards the target.
  replication: ['audit', 'catalog', 'client', 'config', 'core', 'observability', 'oci', 'storage'],
  http: ['audit', 'auth', 'config', 'core', 'observability', 'oci', 'policy'],
  distribution: [
    'audit',
    'auth',
    'catalog',
    'config',
    'core',
    'http',
    'integrity',
    'observability',
    'oci',
    'proxy',
    'sessions',
    'signing',
    'storage',
  ],
  // Cairn's HTTP API over the artifact index: handlers, like distribution/.
  'artifacts/api': [
    'artifacts',
    'audit',
    'auth',
    'catalog',
    'config',
    'core',
    'distribution',
    'http',
    'oci',
    'policy',
    'signing',
  ],
  server: ['artifacts/api', 'auth', 'distribution', 'http', 'oci'],
  cli: [
    'artifacts',
    'audit',
    'auth',
    'catalog',
    'client',
    'config',
    'core',
    'integrity',
    'keys',
    'maintenance',
    'observability',
    'oci',
    'policy',
    'replication',
    'root',
    'storage',
  ],
};
// The lists themselves must be layers: a folder that may import another, even through a third, must not
// be importable by it. Checked whenever the rules are read, so a list edited into a cycle fails `npm test`.
const reach = (from, seen = new Set()) => {
  for (const to of may[from] ?? []) {
    if (seen.has(to)) continue;
    seen.add(to);
    reach(to, seen);
  }
  return seen;
};
for (const folder of Object.keys(may))
  if (reach(folder).has(folder))
    throw new Error(`.dependency-cruiser.js: ${folder} can reach itself through its imports`);

const folders = [...new Set([...Object.keys(may), ...Object.values(may).flat()])].filter((f) => f !== 'root');

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'no import cycle between files',
      from: { path: '^src' },
      to: { circular: true },
    },
    ...Object.entries(may).map(([folder, allowed]) => ({
      name: `layer-${folder}`,
      severity: 'error',
      comment: `${folder}/ may import only: ${allowed.join(', ') || 'nothing else in src'}`,
      from: { path: `^src/${folder}/`, ...(folder === 'artifacts' ? { pathNot: '^src/artifacts/api/' } : {}) },
      to: {
        path: [
          // A folder's own files, and the API inside artifacts/ its own parent, are not other layers.
          ...folders
            .filter((f) => f !== folder && !allowed.includes(f) && !(folder === 'artifacts' && f === 'artifacts/api'))
            // artifacts/ forbidden but artifacts/api/ allowed: only the files outside api/.
            .map((f) => (allowed.some((a) => a.startsWith(`${f}/`)) ? `^src/${f}/(?!api/)` : `^src/${f}/`)),
          // The composition root (src/*.ts) is imported by the CLI only.
          ...(allowed.includes('root') ? [] : ['^src/[^/]+\\.ts$']),
        ],
      },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    includeOnly: '^src',
  },
};
