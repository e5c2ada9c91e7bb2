import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { canRender, parseRendered, renderChart, type K8sObject, type Rendered } from '../helpers/helm';
import { podSpecOf, problemsOf, resolveEnv } from '../helpers/k8s-checks';

/**
 * charts/cairn rendered as `helm template` does (Go text/template + sprig, test/tools/helm-render),
 * every document parsed and checked: required fields, references that resolve, and the registry's
 * own configuration loader accepting the environment the pods get.
 */
const scaleOut = {
  storage: {
    s3: { endpoint: 'http://minio.storage:9000', accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'example-secret' },
  },
  database: { url: 'postgres://cairn:pw@postgres.db:5432/cairn' },
  redis: { url: 'redis://redis.cache:6379/0' },
  audit: { keySecret: 'cairn-audit-key' },
};

const ready = canRender();
if (!ready && process.env.CI === 'true')
  throw new Error(
    'Go and sprig are needed to render the chart (.ci/run installs golang-go golang-github-masterminds-sprig-dev golang-github-ghodss-yaml-dev)',
  );

function container(r: Rendered, kind = 'Deployment') {
  return podSpecOf(r.one(kind)).containers[0];
}

function expectClean(r: Rendered, external?: { secrets?: Record<string, string[]> }) {
  expect(
    problemsOf(
      r.objects.map((o) => o.object),
      external,
    ),
  ).toEqual([]);
}

(ready ? describe : describe.skip)('Helm chart charts/cairn', () => {
  it('renders the scale-out default: replicas, probes, resources, non-root, PDB, GC job, and an environment Cairn accepts', async () => {
    const r = await renderChart(scaleOut);
    expectClean(r);
    expect(r.kinds()).toEqual(['CronJob', 'Deployment', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
    const dep = r.one('Deployment');
    expect(dep.metadata.name).toBe('reg-cairn');
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const c = container(r);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'registry', scheme: 'HTTP' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'registry', scheme: 'HTTP' });
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(podSpecOf(dep).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(c.lifecycle.preStop).toEqual({ sleep: { seconds: 5 } });
    expect(r.one('PodDisruptionBudget').spec.minAvailable).toBe(1);
    // Credentials only through the Secret, never inline in the pod spec.
    expect(JSON.stringify(dep)).not.toContain('example-secret');
    expect(JSON.stringify(dep)).not.toContain(':pw@');

    const env = resolveEnv(
      c,
      r.objects.map((o) => o.object),
    );
    const config = loadConfig({ env });
    expect(config.listen).toBe('0.0.0.0:5000');
    expect(config.database).toBe(scaleOut.database.url);
    expect(config.sessions).toBe(scaleOut.redis.url);
    // Secure by default in the chart too; the replicas share rate limits through Redis.
    expect(config.auth.mode).toBe('token');
    expect(config.rateLimits.backend).toBe(scaleOut.redis.url);
    expect(config.rateLimits.perAddress).toEqual({ perSecond: 200, burst: 1000 });
    // One checkpoint key for every replica, from a Secret readable by the pod's group only.
    expect(config.audit.keyFile).toBe('/audit/audit-key.pem');
    expect(c.volumeMounts).toContainEqual({ name: 'audit-key', mountPath: '/audit', readOnly: true });
    expect(podSpecOf(dep).volumes).toContainEqual({
      name: 'audit-key',
      secret: { secretName: 'cairn-audit-key', defaultMode: 0o440 },
    });
    expect(config.shutdownGraceSeconds).toBeLessThan(dep.spec.template.spec.terminationGracePeriodSeconds);
    const store = S3BlobStore.fromUrl(config.storage, env) as unknown as { bucket: string };
    expect(store.bucket).toBe('cairn');
    expect(new URL(config.storage).searchParams.get('endpoint')).toBe('http://minio.storage:9000');

    // The GC CronJob runs with the same storage, catalog and sessions as the server.
    const gc = r.one('CronJob');
    expect(gc.spec.concurrencyPolicy).toBe('Forbid');
    const gcEnv = resolveEnv(
      container(r, 'CronJob'),
      r.objects.map((o) => o.object),
    );
    expect(container(r, 'CronJob').args).toEqual(['gc', '--retention']);
    for (const k of ['CAIRN_STORAGE', 'CAIRN_DATABASE', 'CAIRN_SESSIONS', 'AWS_ACCESS_KEY_ID'])
      expect(gcEnv[k]).toBe(env[k]);
  });

  it('serves TLS from a Secret, with HTTPS probes, a ServiceMonitor and an ingress', async () => {
    const r = await renderChart({
      ...scaleOut,
      replicaCount: 3,
      tls: { enabled: true, secretName: 'cairn-serving-cert' },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
      ingress: { enabled: true, className: 'nginx', host: 'models.example.com' },
    });
    expectClean(r);
    const c = container(r);
    const env = resolveEnv(
      c,
      r.objects.map((o) => o.object),
    );
    expect(loadConfig({ env }).tls).toEqual({
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      reloadIntervalSeconds: 60,
    });
    expect(c.readinessProbe.httpGet.scheme).toBe('HTTPS');
    expect(c.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/tls', readOnly: true });
    expect(podSpecOf(r.one('Deployment')).volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: 'cairn-serving-cert' },
    });
    const sm = r.one('ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels?.release).toBe('prometheus');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'registry', path: '/metrics', scheme: 'https' });
    expect(sm.spec.selector.matchLabels).toEqual(r.one('Service').spec.selector);
    const ing = r.one('Ingress');
    expect(ing.spec.tls).toEqual([{ hosts: ['models.example.com'], secretName: 'cairn-ingress-tls' }]);
    expect(ing.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'reg-cairn', port: { name: 'registry' } });
    expect(ing.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size']).toBe('0');
    expect(r.one('Deployment').spec.replicas).toBe(3);
  });

  it('uses existing Secrets without making one, and autoscales instead of fixing replicas', async () => {
    const r = await renderChart({
      audit: { keySecret: 'cairn-audit-key' },
      storage: {
        s3: {
          endpoint: 'https://s3.eu-west-1.amazonaws.com',
          pathStyle: false,
          region: 'eu-west-1',
          existingSecret: 's3-keys',
        },
      },
      database: { existingSecret: 'pg-url' },
      redis: { existingSecret: 'redis-url' },
      autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 12 },
    });
    expectClean(r, {
      secrets: {
        's3-keys': ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
        'pg-url': ['CAIRN_DATABASE'],
        'redis-url': ['CAIRN_SESSIONS'],
      },
    });
    expect(r.kinds()).not.toContain('Secret');
    expect(r.one('Deployment').spec.replicas).toBeUndefined();
    expect(r.one('HorizontalPodAutoscaler').spec).toMatchObject({
      minReplicas: 3,
      maxReplicas: 12,
      scaleTargetRef: { kind: 'Deployment', name: 'reg-cairn' },
    });
    const storage = container(r).env.find((e: { name: string }) => e.name === 'CAIRN_STORAGE').value;
    expect(new URL(storage).searchParams.get('pathStyle')).toBe('false');
    expect(new URL(storage).searchParams.get('region')).toBe('eu-west-1');
  });

  it('runs one replica on a volume with embedded storage: PVC kept on uninstall, Recreate, no PDB, no GC job', async () => {
    const r = await renderChart({
      replicaCount: 1,
      storage: { type: 'filesystem', filesystem: { size: '500Gi', storageClass: 'fast' } },
      database: { type: 'sqlite' },
    });
    expectClean(r);
    expect(r.kinds()).toEqual(['Deployment', 'PersistentVolumeClaim', 'Service', 'ServiceAccount']);
    const pvc = r.one('PersistentVolumeClaim');
    expect(pvc.spec).toMatchObject({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'fast',
      resources: { requests: { storage: '500Gi' } },
    });
    expect(pvc.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(r.one('Deployment').spec.strategy).toEqual({ type: 'Recreate' });
    const config = loadConfig({
      env: resolveEnv(
        container(r),
        r.objects.map((o) => o.object),
      ),
    });
    expect(config.storage).toBe('file:///data/blobs');
    expect(config.database).toBe('sqlite:///data/cairn.db');
  });

  it('the structural checks do catch broken objects (they are not vacuous)', async () => {
    const r = await renderChart(scaleOut);
    const objects = r.objects.map((o) => structuredClone(o.object));
    const dep = objects.find((o) => o.kind === 'Deployment')!;
    const c = podSpecOf(dep).containers[0];
    c.readinessProbe.httpGet.port = 'http';
    c.env.find((e: { name: string }) => e.name === 'CAIRN_DATABASE').valueFrom.secretKeyRef.key = 'DB_URL';
    c.volumeMounts.push({ name: 'cache', mountPath: '/cache' });
    delete podSpecOf(dep).securityContext.runAsNonRoot;
    objects.find((o) => o.kind === 'Service')!.spec.selector = { app: 'other' };
    const problems = problemsOf(objects);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/readinessProbe uses port http/),
        expect.stringMatching(/reads key DB_URL of Secret reg-cairn-credentials/),
        expect.stringMatching(/mounts volume cache/),
        expect.stringMatching(/container cairn: must run as non-root/),
        expect.stringMatching(/Service\/reg-cairn: selects no pod/),
      ]),
    );
  });

  it('mounts a ConfigMap of Cedar policies as the policy directory when given', async () => {
    const r = await renderChart({
      ...scaleOut,
      auth: { policiesConfigMap: 'cairn-policies', realm: 'https://models.example.com/token' },
    });
    expectClean(r);
    const c = container(r);
    const config = loadConfig({
      env: resolveEnv(
        c,
        r.objects.map((o) => o.object),
      ),
    });
    expect(config.auth.policyDir).toBe('/policies');
    expect(config.auth.realm).toBe('https://models.example.com/token');
    expect(c.volumeMounts).toContainEqual({ name: 'policies', mountPath: '/policies', readOnly: true });
    expect(podSpecOf(r.one('Deployment')).volumes).toContainEqual({
      name: 'policies',
      configMap: { name: 'cairn-policies' },
    });
  });

  it('falls back to an exec preStop hook on clusters older than 1.30', async () => {
    const r = await renderChart(scaleOut, { kubeVersion: 'v1.28.4' });
    expect(container(r).lifecycle.preStop).toEqual({ exec: { command: ['sleep', '5'] } });
  });

  it.each([
    [{ ...scaleOut, storage: { type: 'filesystem' } }, /more than one replica needs storage.type=s3/],
    [{ ...scaleOut, database: { type: 'sqlite' } }, /more than one replica needs database.type=postgres/],
    [{ ...scaleOut, redis: { url: '' } }, /more than one replica needs redis.url/],
    [
      { ...scaleOut, autoscaling: { enabled: true }, replicaCount: 1, redis: { url: '' } },
      /more than one replica needs redis.url/,
    ],
    [{ ...scaleOut, storage: { s3: { endpoint: '' } } }, /storage.s3.endpoint is required/],
    [
      { ...scaleOut, storage: { s3: { endpoint: 'http://x', accessKeyId: '', secretAccessKey: '' } } },
      /accessKeyId and secretAccessKey/,
    ],
    [{ ...scaleOut, database: { url: '' } }, /database.url or database.existingSecret/],
    [{ ...scaleOut, tls: { enabled: true } }, /tls.secretName is required/],
    [
      { ...scaleOut, config: { shutdownGraceSeconds: 60 } },
      /shutdownGraceSeconds must be below terminationGracePeriodSeconds/,
    ],
    [{ ...scaleOut, storage: { type: 'nfs' } }, /storage.type must be s3 or filesystem/],
    [{ ...scaleOut, auth: { mode: 'basic' } }, /auth.mode must be token or none/],
    [{ ...scaleOut, audit: { keySecret: '' } }, /more than one replica needs audit.keySecret/],
  ])('refuses a configuration that would split or lose state: %#', async (values, message) => {
    await expect(renderChart(values)).rejects.toThrow(message);
  });

  it('deploy/kubernetes/cairn.yaml is the chart rendered with deploy/kubernetes/values.yaml (no drift)', async () => {
    const dir = path.join(__dirname, '..', '..', 'deploy', 'kubernetes');
    const fresh = await renderChart(
      {},
      { release: 'cairn', namespace: 'cairn', valuesFile: path.join(dir, 'values.yaml') },
    );
    let committed = await readFile(path.join(dir, 'cairn.yaml'), 'utf8');
    const header = committed.slice(0, committed.indexOf('---'));
    if (process.env.CAIRN_UPDATE_RENDERED === '1') {
      await writeFile(path.join(dir, 'cairn.yaml'), header + fresh.text);
      committed = header + fresh.text;
    }
    expect(committed.slice(header.length)).toBe(fresh.text);
    const objects: K8sObject[] = parseRendered(committed).objects.map((o) => o.object);
    const secretsDoc = await readFile(path.join(dir, 'credentials.example.yaml'), 'utf8');
    const secrets = parseRendered(secretsDoc).objects.map((o) => o.object);
    expect(problemsOf([...objects, ...secrets])).toEqual([]);
  });
});
