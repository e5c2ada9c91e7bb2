import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, ConfigError } from '../../src/config/config';

describe('configuration', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'cairn-cfg-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  it('has embedded defaults under the data directory', () => {
    const c = loadConfig({ env: {} });
    expect(c.listen).toBe('127.0.0.1:5000');
    expect(c.storage).toBe(`file://${path.resolve('data', 'blobs')}`);
    expect(c.database).toBe(`sqlite://${path.resolve('data', 'cairn.db')}`);
    expect(c.sessions).toBe('memory');
  });
  it('reads a YAML file, and CAIRN_* variables win over it', () => {
    const dir = tmp();
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'listen: 0.0.0.0:6000\nuploads:\n  idleTimeoutSeconds: 10\n');
    const c = loadConfig({ file, env: { CAIRN_LISTEN: '127.0.0.1:7000', CAIRN_DATABASE: 'postgres://u@h/db' } });
    expect(c.listen).toBe('127.0.0.1:7000');
    expect(c.uploads.idleTimeoutSeconds).toBe(10);
    expect(c.database).toBe('postgres://u@h/db');
  });
  it.each([
    [{ CAIRN_LISTEN: 'nope' }, 'listen'],
    [{ CAIRN_DATABASE: 'mysql://x' }, 'database'],
    [{ CAIRN_SESSIONS: 'memcached://x' }, 'sessions'],
    [{ CAIRN_UPLOAD_IDLE_TIMEOUT: 'soon' }, 'CAIRN_UPLOAD_IDLE_TIMEOUT'],
    [{ CAIRN_LOG_LEVEL: 'loud' }, 'log.level'],
  ])('stops on %j naming the key', (env, key) => {
    expect(() => loadConfig({ env })).toThrow(ConfigError);
    expect(() => loadConfig({ env })).toThrow(key);
  });
  it('refuses unknown keys in the file', () => {
    const dir = tmp();
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'lisen: 1\n');
    expect(() => loadConfig({ file, env: {} })).toThrow(/unknown key\(s\) lisen/);
  });

  it('reads the geography keys, and refuses what cannot work', () => {
    const yaml = (text: string) => {
      const file = path.join(tmp(), 'c.yaml');
      writeFileSync(file, text);
      return () => loadConfig({ file, env: {} });
    };
    const c = yaml(
      [
        'replication:',
        '  targets:',
        '    - { name: dr, url: "https://dr.example", passwordEnv: DR, repositories: ["models/**"], stages: [approved] }',
        'proxies:',
        '  - { prefix: hub, upstream: "https://registry-1.docker.io" }',
        'witness: { logs: ["a+01020304+AQ=="] }',
      ].join('\n'),
    )();
    expect(c.replication.targets[0]).toMatchObject({ name: 'dr', deletes: false, stages: ['approved'] });
    expect(c.replication).toMatchObject({ sweepSeconds: 5, retryMaxSeconds: 300 });
    expect(c.proxies[0]).toMatchObject({ prefix: 'hub', tagTtlSeconds: 300 });
    expect(c.mode).toBe('read-write');
    expect(loadConfig({ env: { CAIRN_MODE: 'read-only', CAIRN_PRIMARY: 'https://primary.example' } })).toMatchObject({
      mode: 'read-only',
      primary: 'https://primary.example',
    });
    expect(() => loadConfig({ env: { CAIRN_MODE: 'read-only' } })).toThrow(/primary: a read-only region must name/);
    expect(
      yaml('proxies: [{ prefix: hub, upstream: "https://a" }, { prefix: hub/library, upstream: "https://b" }]'),
    ).toThrow(/proxy prefixes must not overlap/);
    expect(yaml('replication: { targets: [{ name: a, url: "https://a" }, { name: a, url: "https://b" }] }')).toThrow(
      /target names must be unique/,
    );
    expect(yaml('replication: { targets: [{ name: a, url: "https://a", passwordFile: /x, passwordEnv: X }] }')).toThrow(
      /not both/,
    );
    expect(yaml('replication: { targets: [{ name: "A B", url: "https://a" }] }')).toThrow(/replication.targets.0.name/);
  });
});
