/**
 * The layers of src/, written down (docs/architecture.md draws them): for each folder, the folders it may
 * import. A new import outside these lists fails `npm test`. No file may be part of an import cycle.
 * Known debt (issue 14): features still take `Services` from distribution/ and distribution calls them
 * (distribution <-> artifacts, signing, integrity), and policy <-> artifacts, auth; the domain core removes these.
 */
const may = {
  artifacts: ['catalog', 'distribution', 'http', 'oci', 'policy', 'storage'],
  // Cairn's HTTP API over the artifact index: handlers, like distribution/.
  'artifacts/api': ['artifacts', 'catalog', 'distribution', 'http', 'oci', 'policy', 'signing'],
  audit: ['catalog', 'config', 'observability'],
  auth: ['audit', 'catalog', 'config', 'observability', 'policy'],
  catalog: [],
  cli: [
    'artifacts',
    'audit',
    'auth',
    'catalog',
    'client',
    'config',
    'integrity',
    'maintenance',
    'observability',
    'policy',
    'root',
  ],
  client: ['artifacts', 'oci', 'signing'],
  config: [],
  distribution: [
    'artifacts',
    'audit',
    'auth',
    'catalog',
    'config',
    'http',
    'integrity',
    'observability',
    'oci',
    'policy',
    'sessions',
    'signing',
    'storage',
  ],
  http: ['audit', 'auth', 'config', 'observability', 'oci', 'policy'],
  integrity: ['audit', 'catalog', 'distribution', 'observability', 'oci', 'storage'],
  maintenance: ['audit', 'catalog', 'distribution', 'observability', 'policy', 'sessions', 'storage'],
  observability: [],
  oci: [],
  policy: ['artifacts', 'auth', 'observability'],
  server: ['artifacts/api', 'auth', 'distribution', 'http', 'oci'],
  sessions: [],
  signing: ['artifacts', 'audit', 'catalog', 'distribution', 'http', 'observability', 'oci', 'policy', 'storage'],
  storage: ['oci'],
};
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
