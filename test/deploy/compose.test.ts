import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/config';
import { S3BlobStore } from '../../src/storage/s3-blob-store';

/**
 * deploy/docker-compose.yml parsed and interpolated as `docker compose config` does with the example
 * .env, then checked: every service Cairn's URLs name exists, listens on that port and is waited for
 * by health; Cairn's configuration loader accepts the environment; no secret is written in the file.
 * (No Docker engine runs on the test machines; the image's runtime is tested in dockerfile.test.ts.)
 */
const DEPLOY = path.join(__dirname, '..', '..', 'deploy');

/** Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} interpolation. */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}/g,
    (_m, name: string, op: string | undefined, arg: string | undefined) => {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
      if (op === ':-') return arg ?? '';
      if (op === ':?') throw new Error(`${name}: ${arg}`);
      return '';
    },
  );
}

function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

type Compose = { services: Record<string, any>; volumes?: Record<string, unknown> };

describe('deploy/docker-compose.yml', () => {
  let raw: string;
  let example: Record<string, string>;
  let compose: Compose;
  beforeAll(async () => {
    raw = await readFile(path.join(DEPLOY, 'docker-compose.yml'), 'utf8');
    example = envFile(await readFile(path.join(DEPLOY, '.env.example'), 'utf8'));
    compose = parse(interpolate(raw, example)) as Compose;
  });

  it('refuses to start without the passwords, and the example .env provides every one', () => {
    expect(() => interpolate(raw, {})).toThrow(/MINIO_ROOT_PASSWORD|POSTGRES_PASSWORD/);
    const required = [...raw.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]!);
    expect(required.length).toBeGreaterThan(0);
    for (const name of required) expect(example[name]).toBeTruthy();
    // Nothing secret is spelled out in the compose file itself.
    expect(raw).not.toMatch(/(PASSWORD|SECRET_ACCESS_KEY): +[^$\s]/);
  });

  it('brings up Cairn with MinIO, PostgreSQL and Redis, wired by environment', () => {
    const services = compose.services;
    expect(Object.keys(services).sort()).toEqual(['audit-key', 'cairn', 'lb', 'minio', 'postgres', 'redis']);
    const cairn = services.cairn;
    expect(cairn.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
    expect(cairn.deploy.replicas).toBeGreaterThanOrEqual(2);
    expect(cairn.user).toBe('1000:1000');
    expect(cairn.read_only).toBe(true);

    const env = cairn.environment as Record<string, string>;
    const config = loadConfig({ env });
    expect(config.listen).toBe('0.0.0.0:5000');
    const endpoint = new URL(new URL(config.storage).searchParams.get('endpoint')!);
    const db = new URL(config.database);
    const redis = new URL(config.sessions);
    const store = S3BlobStore.fromUrl(config.storage, env) as unknown as { bucket: string };
    expect(store.bucket).toBe('cairn');
    // Each URL names a compose service, on the port that service listens on, with matching credentials.
    expect([endpoint.hostname, endpoint.port]).toEqual(['minio', '9000']);
    expect([db.hostname, db.port, db.pathname]).toEqual([
      'postgres',
      '5432',
      `/${services.postgres.environment.POSTGRES_DB}`,
    ]);
    expect(decodeURIComponent(db.username)).toBe(services.postgres.environment.POSTGRES_USER);
    expect(decodeURIComponent(db.password)).toBe(services.postgres.environment.POSTGRES_PASSWORD);
    expect([redis.hostname, redis.port]).toEqual(['redis', '6379']);
    expect(config.rateLimits.backend).toBe(config.sessions);
    expect(config.auth.mode).toBe('token');
    expect(env.AWS_ACCESS_KEY_ID).toBe(services.minio.environment.MINIO_ROOT_USER);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe(services.minio.environment.MINIO_ROOT_PASSWORD);
    expect(services.minio.command).toEqual(expect.arrayContaining(['server', '/data']));

    // Cairn starts only once its backends answer; every dependency has a health check to wait on.
    for (const [dep, cond] of Object.entries(cairn.depends_on as Record<string, { condition: string }>)) {
      if (dep === 'audit-key') continue;
      expect(cond.condition).toBe('service_healthy');
      expect(services[dep].healthcheck.test.length).toBeGreaterThan(1);
    }
    // Every replica signs audit checkpoints with the one key the audit-key job made.
    expect(cairn.depends_on['audit-key']).toEqual({ condition: 'service_completed_successfully' });
    expect(services['audit-key'].command).toEqual(['audit', 'keygen', '--out', env.CAIRN_AUDIT_KEY_FILE]);
    expect(cairn.volumes).toContain(`audit-key:${path.dirname(env.CAIRN_AUDIT_KEY_FILE!)}:ro`);
    // Stateful services keep their data in named volumes.
    for (const s of ['minio', 'postgres', 'redis', 'audit-key']) {
      const volume = (services[s].volumes as string[])[0]!.split(':')[0]!;
      expect(compose.volumes).toHaveProperty(volume);
    }
    // Shutdown grace inside the container stops before Docker's kill.
    expect(Number(env.CAIRN_SHUTDOWN_GRACE)).toBeLessThan(parseInt(cairn.stop_grace_period, 10));
  });

  it('publishes one port through nginx configured for registry traffic', async () => {
    const lb = compose.services.lb;
    expect(lb.ports).toEqual(['5000:5000']);
    const [file, target] = (lb.volumes as string[])[0]!.split(':');
    const conf = await readFile(path.join(DEPLOY, file!), 'utf8');
    expect(target).toBe('/etc/nginx/conf.d/default.conf');
    expect(conf).toMatch(/server cairn:5000;/);
    expect(conf).toMatch(/listen 5000;/);
    // Unlimited, unbuffered bodies: multi-gigabyte layers stream through instead of filling a disk.
    expect(conf).toMatch(/client_max_body_size 0;/);
    expect(conf).toMatch(/proxy_request_buffering off;/);
    expect(conf).toMatch(/proxy_set_header Host \$http_host;/);
  });
});
