import { createHash, createSign, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Key, Metadata, MetaFile, Root, Signature, Snapshot, TargetFile, Targets, Timestamp } from '@tufjs/models';

/**
 * A TUF repository on 127.0.0.1 that publishes a Sigstore trusted_root.json the way
 * tuf-repo-cdn.sigstore.dev does (root, timestamp, snapshot and targets metadata, one key for all four
 * roles, no consistent snapshots), so that a registry can be pointed at it as a private TUF mirror.
 */
export interface TufRepo {
  url: string;
  /** The initial root.json a client starts its chain of trust from. */
  writeRoot(file: string): Promise<void>;
  /** Publishes a new trusted_root.json (new targets, snapshot and timestamp versions); a string as is. */
  publish(trustedRoot: unknown): void;
  /** Serves these bytes as the target instead of what the signed targets metadata names (an attack). */
  forgeTarget(bytes: Buffer | undefined): void;
  /** Stops answering (connection refused) or answers again on the same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** How many requests for each path it answered. */
  hits: Map<string, number>;
}

const EXPIRES_DAYS = 30;

export async function startTufRepo(trustedRoot: unknown): Promise<TufRepo> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyMeta = {
    keyType: 'ecdsa-sha2-nistp256',
    scheme: 'ecdsa-sha2-nistp256',
    keyVal: { public: publicKey.export({ format: 'pem', type: 'spki' }).toString() },
  };
  const key = new Key({ keyID: createHash('sha256').update(JSON.stringify(keyMeta)).digest('hex'), ...keyMeta });
  const sign = (m: Metadata<Root | Targets | Snapshot | Timestamp>) =>
    m.sign(
      (data: Buffer) =>
        new Signature({ keyID: key.keyID, sig: createSign('sha256').update(data).sign(privateKey).toString('hex') }),
    );
  const expires = () => new Date(Date.now() + EXPIRES_DAYS * 86_400_000).toISOString();
  const metaFile = (text: string, version: number) =>
    new MetaFile({
      version,
      length: Buffer.byteLength(text),
      hashes: { sha256: createHash('sha256').update(text).digest('hex') },
    });

  const root = new Metadata(
    new Root({ version: 1, specVersion: '1.0.0', expires: expires(), consistentSnapshot: false }),
  );
  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.signed.addKey(key, role);
  sign(root);
  const rootText = JSON.stringify(root.toJSON());

  let files = new Map<string, string>();
  let forged: Buffer | undefined;
  let version = 0;
  const publish = (tr: unknown) => {
    version++;
    const target = typeof tr === 'string' ? tr : JSON.stringify(tr);
    const targets = new Metadata(new Targets({ version, specVersion: '1.0.0', expires: expires() }));
    targets.signed.addTarget(
      new TargetFile({
        path: 'trusted_root.json',
        length: Buffer.byteLength(target),
        hashes: { sha256: createHash('sha256').update(target).digest('hex') },
      }),
    );
    sign(targets);
    const targetsText = JSON.stringify(targets.toJSON());
    const snapshot = new Metadata(
      new Snapshot({
        version,
        specVersion: '1.0.0',
        expires: expires(),
        meta: { 'targets.json': metaFile(targetsText, version) },
      }),
    );
    sign(snapshot);
    const snapshotText = JSON.stringify(snapshot.toJSON());
    const timestamp = new Metadata(
      new Timestamp({
        version,
        specVersion: '1.0.0',
        expires: expires(),
        snapshotMeta: metaFile(snapshotText, version),
      }),
    );
    sign(timestamp);
    files = new Map([
      ['/1.root.json', rootText],
      ['/timestamp.json', JSON.stringify(timestamp.toJSON())],
      ['/snapshot.json', snapshotText],
      ['/targets.json', targetsText],
      ['/targets/trusted_root.json', target],
    ]);
  };
  publish(trustedRoot);

  const hits = new Map<string, number>();
  let server: Server | undefined;
  let port = 0;
  const up = async () => {
    server = createServer((req, res) => {
      const p = (req.url ?? '/').split('?')[0]!;
      hits.set(p, (hits.get(p) ?? 0) + 1);
      const body = p === '/targets/trusted_root.json' && forged ? forged : files.get(p);
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await up();
  return {
    url: `http://127.0.0.1:${port}`,
    writeRoot: (file) => writeFile(file, rootText),
    publish,
    forgeTarget: (bytes) => (forged = bytes),
    down: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    up,
    hits,
  };
}
