import type { K8sObject } from './helm';

/**
 * Structural checks of rendered Kubernetes objects: what `kubectl apply` would reject, or what
 * would start but never work (a probe on a port that does not exist, an env var from a Secret key
 * nobody makes, a Service selecting no pod). The API server is not available to the tests.
 */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function problemsOf(objects: K8sObject[], external: { secrets?: Record<string, string[]> } = {}): string[] {
  const problems: string[] = [];
  const secrets = new Map<string, Set<string>>(Object.entries(external.secrets ?? {}).map(([k, v]) => [k, new Set(v)]));
  for (const o of objects) {
    if (o.kind === 'Secret')
      secrets.set(o.metadata.name, new Set([...Object.keys(o.data ?? {}), ...Object.keys(o.stringData ?? {})]));
  }
  const pvcs = new Set(objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => o.metadata.name));
  const serviceAccounts = new Set(objects.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata.name));
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata?.name}`;
    if (typeof o.apiVersion !== 'string' || !o.apiVersion) problems.push(`${where}: no apiVersion`);
    if (typeof o.kind !== 'string' || !o.kind) problems.push(`${where}: no kind`);
    const name = o.metadata?.name;
    const nameRule = ['Service', 'Namespace'].includes(o.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    if (typeof name !== 'string' || !nameRule.test(name) || name.length > (o.kind === 'Service' ? 63 : 253))
      problems.push(`${where}: invalid metadata.name`);
    for (const [k, v] of Object.entries(o.metadata?.labels ?? {})) {
      if (typeof v !== 'string' || v.length > 63)
        problems.push(`${where}: label ${k} must be a string of at most 63 characters`);
    }
    for (const [k, v] of Object.entries(o.metadata?.annotations ?? {})) {
      if (typeof v !== 'string') problems.push(`${where}: annotation ${k} must be a string`);
    }
    if (o.kind === 'Secret') {
      for (const [k, v] of Object.entries(o.data ?? {})) {
        if (typeof v !== 'string' || Buffer.from(v, 'base64').toString('base64') !== v)
          problems.push(`${where}: data.${k} is not base64`);
      }
    }
    const pod = podSpecOf(o);
    if (pod) {
      const podLabels = podLabelsOf(o);
      const selector = o.spec?.selector?.matchLabels;
      if (o.kind === 'Deployment' && !matches(selector, podLabels))
        problems.push(`${where}: selector does not match the pod labels`);
      if (
        pod.serviceAccountName &&
        !serviceAccounts.has(pod.serviceAccountName) &&
        pod.serviceAccountName !== 'default'
      ) {
        problems.push(`${where}: service account ${pod.serviceAccountName} is not created`);
      }
      const volumes = new Map<string, Record<string, unknown>>(
        (pod.volumes ?? []).map((v: { name: string }) => [v.name, v]),
      );
      for (const v of volumes.values()) {
        const claim = (v.persistentVolumeClaim as { claimName?: string } | undefined)?.claimName;
        if (claim && !pvcs.has(claim) && !external.secrets)
          problems.push(`${where}: volume claim ${claim} is not created`);
      }
      for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        const cw = `${where} container ${c.name}`;
        if (!c.name || !c.image) problems.push(`${cw}: name and image are required`);
        const ports = new Set(
          (c.ports ?? []).map((p: { name?: string; containerPort: number }) => p.name ?? p.containerPort),
        );
        for (const p of c.ports ?? [])
          if (!Number.isInteger(p.containerPort)) problems.push(`${cw}: containerPort must be an integer`);
        for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
          const port = c[probe]?.httpGet?.port;
          if (port !== undefined && !ports.has(port))
            problems.push(`${cw}: ${probe} uses port ${port}, which the container does not expose`);
        }
        for (const e of c.env ?? []) {
          if (!e.name) problems.push(`${cw}: env entry without a name`);
          if ((e.value !== undefined) === (e.valueFrom !== undefined))
            problems.push(`${cw}: env ${e.name} needs exactly one of value and valueFrom`);
          if (e.value !== undefined && typeof e.value !== 'string')
            problems.push(`${cw}: env ${e.name} value must be a string`);
          const ref = e.valueFrom?.secretKeyRef;
          if (ref && !secrets.get(ref.name)?.has(ref.key))
            problems.push(`${cw}: env ${e.name} reads key ${ref.key} of Secret ${ref.name}, which nothing provides`);
        }
        for (const m of c.volumeMounts ?? [])
          if (!volumes.has(m.name)) problems.push(`${cw}: mounts volume ${m.name}, which the pod does not declare`);
        const sc = { ...pod.securityContext, ...c.securityContext };
        if (sc.runAsNonRoot !== true) problems.push(`${cw}: must run as non-root`);
        if (sc.allowPrivilegeEscalation !== false) problems.push(`${cw}: must not allow privilege escalation`);
      }
    }
    if (o.kind === 'Service' || o.kind === 'PodDisruptionBudget') {
      const selector = o.kind === 'Service' ? o.spec?.selector : o.spec?.selector?.matchLabels;
      const targets = objects.filter((w) => w.kind === 'Deployment' && matches(selector, podLabelsOf(w)));
      if (targets.length === 0) problems.push(`${where}: selects no pod`);
      if (o.kind === 'Service') {
        for (const p of o.spec?.ports ?? []) {
          const named = targets.some((w) =>
            podSpecOf(w)?.containers?.some((c: { ports?: { name?: string }[] }) =>
              c.ports?.some((cp) => cp.name === p.targetPort),
            ),
          );
          if (typeof p.targetPort === 'string' && !named)
            problems.push(`${where}: targetPort ${p.targetPort} is not a container port`);
        }
      }
    }
  }
  return problems;
}

export function podSpecOf(o: K8sObject): any {
  if (o.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template?.spec;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) return o.spec?.template?.spec;
  return undefined;
}

function podLabelsOf(o: K8sObject): Record<string, string> {
  return (
    (o.kind === 'CronJob'
      ? o.spec?.jobTemplate?.spec?.template?.metadata?.labels
      : o.spec?.template?.metadata?.labels) ?? {}
  );
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The container's environment with Secret references resolved from the given objects. */
export function resolveEnv(
  container: { env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] },
  objects: K8sObject[],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === ref.name);
      const raw = secret?.data?.[ref.key];
      if (raw !== undefined) env[e.name] = Buffer.from(raw as string, 'base64').toString('utf8');
    }
  }
  return env;
}
