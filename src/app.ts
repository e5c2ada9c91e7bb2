import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from './config/config';
import { createLogger, type Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { createRequestListener } from './server/listener';
import { readTlsFiles, watchTls } from './http/tls';
import { createStorage } from './storage';
import { wireEncryption, type Encryption } from './encryption-wiring';
import { HsmP256Signer } from './keys/hsm-signer';
import { createSessionStore } from './sessions';
import { createArtifactIndex, createCatalog } from './catalog';
import { Governance } from './policy/governance';
import { TrustStore } from './signing/trust-store';
import { createSignatureStore } from './signing';
import { startTrustRechecker } from './signing/recheck';
import { registryTufRoots } from './signing/tuf-roots';
import { UploadHashes } from './sessions/upload-hashes';
import { VerifiedBlobs } from './distribution/verified-blobs';
import { ReadTags } from './distribution/read-tags';
import type { V2Deps } from './server/routes';
import { createRegistryCore } from './registry-wiring';
import type { RegistryCore } from './core/registry-core';
import type { ReceiptIssuer } from './signing/receipt-issuer';
import { startUploadJanitor } from './maintenance/upload-janitor';
import { startRewrap } from './maintenance/rewrap';
import { startRetention } from './maintenance/retention';
import type { BlobStore } from './storage/blob-store';
import type { UploadSessionStore } from './sessions/upload-session-store';
import type { Catalog } from './catalog/catalog';
import type { KyselyIdentityStore } from './auth/kysely-identity-store';
import { createIdentityStore } from './auth';
import { startAuth, type AuthRuntime } from './http/auth-runtime';
import { ensureAdmin } from './auth/bootstrap';
import { AccessGate } from './http/access-gate';
import { createAuditLog, createRegionIngest, createRegionSpool, createWitness, openAuditSigner } from './audit';
import type { RegionSpool } from './audit/region-spool';
import type { Ed25519Signer } from './keys/signer';
import type { AuditLog } from './audit/audit-log';
import { createQuarantine } from './integrity';
import { startScrubber } from './integrity/scrubber';
import { CloseStack } from './close-stack';
import { createReplicationState } from './catalog';
import { Replication } from './replication/replication';
import { replicationMetrics } from './replication/status';
import { defaultUserAgent } from './client/registry-client';

/** A running registry: the HTTP server and the backends behind it. */
export interface Registry {
  /** http(s)://host:port the server listens on (the real port when 0 was asked). */
  url: string;
  config: Config;
  /** The wired stores and the core, for tests and the CLI: what the handlers were given. */
  services: V2Deps & {
    core: RegistryCore;
    receipts: ReceiptIssuer | undefined;
    /** Present when replication.targets is not empty. */
    replication: Replication | undefined;
  };
  /** Present unless auth.mode is none. */
  auth?: AuthRuntime;
  audit: AuditLog;
  close(): Promise<void>;
}

export interface Backends {
  blobs: BlobStore;
  sessions: UploadSessionStore;
  catalog: Catalog;
  identities: KyselyIdentityStore;
  /** Present when encryption.key is configured: `blobs` is then the encrypting store. */
  encryption?: Encryption;
}

/** Opens the three backends the configuration names; closes what was opened if one fails. */
export async function openBackends(config: Config): Promise<Backends> {
  const plain = createStorage(config.storage, config.storageRoutes);
  const sessions = createSessionStore(config.sessions, config.uploads.idleTimeoutSeconds * 1000);
  const catalog = createCatalog(config.database, { readOnly: config.mode === 'read-only' });
  const opened: { close(): Promise<void> }[] = [];
  try {
    for (const backend of [plain, sessions, catalog]) {
      await backend.init();
      opened.push(backend);
    }
    const { blobs, encryption } = await wireEncryption(config, plain, catalog);
    if (encryption) opened.push({ close: async () => encryption.ring.close() });
    return {
      blobs,
      sessions,
      catalog,
      identities: createIdentityStore(catalog, encryption?.secrets),
      ...(encryption ? { encryption } : {}),
    };
  } catch (err) {
    await Promise.allSettled(opened.map((b) => b.close()));
    throw err;
  }
}

/** Closes what openBackends opened, whatever fails. */
export async function closeBackends(b: Backends): Promise<void> {
  await Promise.allSettled([b.blobs.close(), b.sessions.close(), b.catalog.close()]);
  b.encryption?.ring.close();
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

export async function startRegistry(config: Config, options: { logger?: Logger } = {}): Promise<Registry> {
  const logger = options.logger ?? createLogger(config.log.level);
  // Bad TLS files stop start-up before any backend is opened.
  const tlsFiles = config.tls ? readTlsFiles(config.tls) : undefined;
  const stack = new CloseStack(logger);
  try {
    return await start(config, logger, tlsFiles, stack);
  } catch (err) {
    // Nothing started halfway keeps running: backends, background jobs, a server that could not listen.
    await stack.closeAll();
    throw err;
  }
}

async function start(
  config: Config,
  logger: Logger,
  tlsFiles: ReturnType<typeof readTlsFiles> | undefined,
  stack: CloseStack,
): Promise<Registry> {
  const backends = await openBackends(config);
  stack.push('backends', () => closeBackends(backends));
  const metrics = new Metrics();
  const hashes = new UploadHashes(backends.blobs, config.uploads.idleTimeoutSeconds * 1000);
  const verified = new VerifiedBlobs(config.blobs.verifiedTtlSeconds * 1000);
  const readTags = config.blobs.verifyWith === 'tag' ? new ReadTags() : undefined;
  // A read-only region cannot write its log's tables (a standby's): its records go to the primary.
  const readOnly = config.mode === 'read-only';
  let spool: RegionSpool | undefined;
  let regionSigner: Ed25519Signer | undefined;
  if (readOnly) {
    const signer = openAuditSigner(config);
    regionSigner = signer;
    const opened = createRegionSpool(config, signer, logger);
    await opened.open();
    spool = opened;
  }
  const audit = createAuditLog(
    config,
    backends.catalog,
    logger,
    spool && regionSigner ? { signer: regionSigner, forward: (events) => spool.add(events) } : {},
  );
  await audit.init();
  stack.push('audit log', () =>
    audit.close().catch((err) => logger.error({ err: (err as Error).message }, 'audit log not flushed')),
  );
  let auth: AuthRuntime | undefined;
  if (config.auth.mode === 'none') {
    const warning =
      'AUTHENTICATION IS OFF (auth.mode=none / CAIRN_AUTH=none): anyone who can reach this port can read, write and delete everything. Use it for local experiments only.';
    if (config.log.level !== 'silent') process.stderr.write(`\n  WARNING: ${warning}\n\n`);
    logger.warn({ auth: 'none' }, warning);
  } else {
    let tokenSigner: HsmP256Signer | undefined;
    if (config.auth.signingKey) {
      try {
        tokenSigner = HsmP256Signer.open(config.auth.signingKey);
      } catch (err) {
        throw new ConfigError(`auth.signingKey: ${(err as Error).message}`);
      }
      const signer = tokenSigner;
      stack.push('token signing key', () => signer.close());
    }
    const started = await startAuth(config, backends.identities, logger, { audit, tokenSigner });
    auth = started;
    stack.push('auth', () => started.close());
    // The bootstrap admin's role binding is in force from the first request (a region's comes from the primary).
    if (!readOnly && (await ensureAdmin(backends.identities, config.dataDir, logger, config.log.level === 'silent')))
      await started.authorizer.load();
  }
  const gate = new AccessGate(auth, config, metrics, logger, audit);
  const governance = new Governance(config.auth.policyDir, config.auth.policyReloadSeconds, (message) =>
    logger.error({ policyDir: config.auth.policyDir }, message),
  );
  const trust = new TrustStore(
    config.auth.policyDir,
    config.auth.policyReloadSeconds,
    (message) => logger.error({ policyDir: config.auth.policyDir }, message),
    registryTufRoots(config.dataDir, { metrics, logger, audit }),
  );
  // Serving before the TUF roots are in hand would deny keyless-signed artifacts for no reason; an
  // unreachable mirror costs at most its timeout, and the cache answers when it is still valid.
  if (trust.current().tuf.length) await trust.tuf.refresh(trust.current().tuf, { initial: true });
  const artifacts = createArtifactIndex(backends.catalog);
  const stores = {
    config,
    logger,
    audit,
    quarantine: createQuarantine(backends.catalog),
    artifacts,
    governance,
    trust,
    signatures: createSignatureStore(backends.catalog),
    ...backends,
  };
  const { core, receipts, pullThrough } = createRegistryCore(stores);
  if (pullThrough) stack.push('pull-through caches', async () => pullThrough.close());
  const replication = config.replication.targets.length
    ? new Replication(
        { ...stores, state: createReplicationState(backends.catalog) },
        config,
        defaultUserAgent().replace('cairn-cli', 'cairn-replication'),
      )
    : undefined;
  // Each module picks what it uses from this: the handlers, the background jobs, the tests.
  const witness = readOnly ? undefined : createWitness(config, backends.catalog, audit);
  const regionIngest = createRegionIngest(config, backends.catalog, audit);
  const services = {
    ...stores,
    core,
    receipts,
    replication,
    pullThrough,
    witness,
    regionIngest,
    metrics,
    hashes,
    verified,
    readTags,
    gate,
  };
  audit.start();
  if (spool) stack.push('audit spool', spool.start(2000));
  // Background work writes the catalog: the primary does it for a read-only region.
  if (!readOnly) {
    stack.push('scrubber', startScrubber(services));
    stack.push(
      'signature re-check',
      startTrustRechecker(services, Math.max(1, config.auth.policyReloadSeconds) * 1000),
    );
    stack.push('retention', startRetention(services));
  }
  if (receipts && !readOnly) stack.push('receipt issuer', receipts.start());
  if (replication && !readOnly) {
    replicationMetrics(metrics.registry, () => replication.status());
    stack.push('replication', replication.start(core.changes));
  }
  stack.push(
    'TUF refresh',
    trust.tuf.start(() => trust.current().tuf, config.auth.policyReloadSeconds),
  );

  const listener = createRequestListener(
    services,
    {
      ready: async () => {
        const checks: Record<string, string> = {};
        const probe = async (name: string, fn: () => Promise<unknown>) => {
          try {
            await fn();
            checks[name] = 'ok';
          } catch (err) {
            checks[name] = (err as Error).message;
          }
        };
        await probe('catalog', () => backends.catalog.repositoryExists('readyz'));
        await probe('sessions', () => backends.sessions.get('readyz'));
        await probe('storage', () => backends.blobs.stat(`sha256:${'0'.repeat(64)}`));
        // The key-encryption key must answer (an HSM can go away): without it no blob can be read or written.
        const ring = backends.encryption?.ring;
        if (ring) await probe('encryption', () => ring.wrap(Buffer.alloc(32)));
        return { ok: Object.values(checks).every((v) => v === 'ok'), checks };
      },
    },
    auth,
  );

  const server = tlsFiles
    ? https.createServer({ keepAliveTimeout: 65_000, ...tlsFiles }, listener)
    : http.createServer({ keepAliveTimeout: 65_000 }, listener);
  // A 100 GB blob streams for longer than any fixed request timeout; idle sockets are still reaped.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.timeout = 0;
  const { host, port } = splitListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Drain: no new connections, idle keep-alive ones closed, requests in flight get the grace period (a
  // chunk cut short is not lost: the client resumes from the acknowledged offset).
  stack.push(
    'http server',
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        const idle = setInterval(() => server.closeIdleConnections(), 100);
        const cut = setTimeout(() => server.closeAllConnections(), config.shutdownGraceSeconds * 1000);
        server.once('close', () => {
          clearInterval(idle);
          clearTimeout(cut);
        });
      }),
  );
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tls ? 'https' : 'http'}://${shownHost}:${address.port}`;
  if (config.tls) stack.push('TLS watch', watchTls(server as https.Server, config.tls, logger));
  if (!readOnly)
    stack.push(
      'upload janitor',
      startUploadJanitor(
        backends.catalog,
        backends.blobs,
        backends.sessions,
        hashes,
        config.uploads.idleTimeoutSeconds * 1000,
        config.uploads.janitorIntervalSeconds * 1000,
        logger,
      ),
    );
  const encryption = backends.encryption;
  if (encryption && config.encryption.rewrapIntervalSeconds > 0 && !readOnly)
    stack.push(
      'data key re-wrap',
      startRewrap(
        backends.catalog,
        encryption.dataKeys,
        encryption.ring,
        config.encryption.rewrapIntervalSeconds * 1000,
        logger,
        () => backends.identities.resealSecrets(),
      ),
    );
  logger.info(
    {
      url,
      storage: backends.blobs.kind,
      database: backends.catalog.kind,
      sessions: backends.sessions.kind,
      encryption: encryption ? `key ${encryption.ring.current.id}` : 'off',
      mode: config.mode,
    },
    'cairn registry listening',
  );

  let closing: Promise<void> | undefined;
  return { url, config, services, auth, audit, close: () => (closing ??= stack.closeAll()) };
}
