import { Command } from 'commander';
import { loadConfig, ConfigError, type ConfigInput } from '../config/config';
import { createLogger } from '../observability/logger';
import { closeBackends, startRegistry, openBackends } from '../app';
import { GcBusy, collectGarbage } from '../maintenance/gc';
import { sweepExpiredUploads } from '../maintenance/upload-janitor';
import { adminCommands } from './admin';
import { policyCommands } from './policy';
import { auditCommands } from './audit';
import { transferCommands } from './transfer';
import { signingCommands } from './signing-commands';
import { artifactMaintenanceCommands } from './artifact-maintenance';
import { registryCommands } from './registry-commands';
import { replicationCommands } from './replication-commands';
import { pruneDrafts } from '../maintenance/retention';
import { createArtifactIndex } from '../catalog';
import { Governance } from '../policy/governance';
import { withBackends } from './with-backends';
import { tuneAllocator } from '../allocator';
import { createAuditLog } from '../audit';
import { createQuarantine } from '../integrity';
import { reportIntegrityFailure } from '../integrity/alerts';
import { scrubBlobs } from '../integrity/scrub';

function configFrom(opts: { config?: string }, overrides: ConfigInput = {}) {
  try {
    return loadConfig({ file: opts.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cairn: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name('cairn')
    .description('Cairn: an OCI registry for machine-learning models and datasets')
    .showHelpAfterError();

  program
    .command('serve')
    .description('run the registry')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('-l, --listen <host:port>', 'address to listen on (CAIRN_LISTEN)')
    .action(async (opts: { config?: string; listen?: string }) => {
      const config = configFrom(opts, opts.listen ? { listen: opts.listen } : {});
      const logger = createLogger(config.log.level);
      tuneAllocator(logger);
      const registry = await startRegistry(config, { logger });
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        registry.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });

  program
    .command('gc')
    .description('reclaim blob bytes no manifest or link refers to (safe while the registry serves)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--grace <seconds>', 'never collect anything touched more recently than this')
    .option('--dry-run', 'only count what would be scanned')
    .option(
      '--retention',
      'first delete the drafts the retention rules of governance.yaml let go (see `cairn retention`)',
    )
    .action(async (opts: { config?: string; grace?: string; dryRun?: boolean; retention?: boolean }) => {
      const config = configFrom(opts, opts.grace !== undefined ? { gc: { graceSeconds: Number(opts.grace) } } : {});
      const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
      const backends = await openBackends(config);
      try {
        const uploads = await sweepExpiredUploads(
          backends.blobs,
          backends.sessions,
          config.uploads.idleTimeoutSeconds * 1000,
          logger,
        );
        let r;
        try {
          // Removed bytes are state changes too: each collected blob is in the audit log.
          const audit = createAuditLog(config, backends.catalog, logger, { sign: false });
          const retained = opts.retention
            ? await pruneDrafts(
                { artifacts: createArtifactIndex(backends.catalog), catalog: backends.catalog, audit },
                new Governance(config.auth.policyDir, Infinity).current(),
                Date.now(),
                { dryRun: opts.dryRun },
              )
            : undefined;
          if (retained)
            process.stdout.write(
              `${JSON.stringify({ draftsDeleted: retained.deleted.length, draftsKept: retained.kept.length })}\n`,
            );
          r = await collectGarbage(backends.blobs, backends.catalog, config.gc.graceSeconds * 1000, logger, {
            dryRun: opts.dryRun,
            onCollected: async (digest, size) =>
              void (await audit.append({
                type: 'gc.collect',
                identity: 'system',
                action: 'delete',
                digest,
                detail: { size },
              })),
          });
          await audit.close();
        } catch (err) {
          if (!(err instanceof GcBusy)) throw err;
          process.stderr.write(`cairn: ${err.message}; try again later\n`);
          process.exitCode = 3;
          return;
        }
        process.stdout.write(
          `${JSON.stringify({ ...r, expiredUploadsRemoved: uploads, dryRun: Boolean(opts.dryRun) })}\n`,
        );
      } finally {
        await closeBackends(backends);
      }
    });

  program
    .command('scrub')
    .description('re-hash every stored blob like fsck; exit 1 naming each corrupt one (they are quarantined)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--rate <MiB/s>', 'at most this many MiB a second (default: as fast as storage allows)')
    .option('--no-quarantine', 'only report, do not quarantine or record')
    .action(async (opts: { config?: string; rate?: string; quarantine: boolean }) => {
      const config = configFrom(opts);
      const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
      await withBackends(config, async (backends) => {
        const quarantine = createQuarantine(backends.catalog);
        const audit = createAuditLog(config, backends.catalog, logger, { sign: false });
        const r = await scrubBlobs(backends.blobs, {
          bytesPerSecond: opts.rate ? Number(opts.rate) * 1024 * 1024 : 0,
          onCorrupt: async (digest, actual) => {
            process.stdout.write(`CORRUPT ${digest} (stored bytes hash to ${actual})\n`);
            if (opts.quarantine)
              await reportIntegrityFailure(
                { digest, actual, where: 'scrub' },
                { quarantine, logger, audit, webhook: config.integrity.alertWebhook },
              );
          },
        });
        await audit.close();
        process.stdout.write(
          `${r.checked} blob(s), ${(r.bytes / 1048576).toFixed(1)} MiB checked in ${r.seconds.toFixed(1)} s: ${r.corrupt.length ? `${r.corrupt.length} CORRUPT` : 'all intact'}\n`,
        );
        process.exitCode = r.corrupt.length ? 1 : 0;
      });
    });

  adminCommands(program, (o) => configFrom(o));
  const policy = policyCommands(program, (o) => configFrom(o));
  artifactMaintenanceCommands(program, policy, (o) => configFrom(o));
  registryCommands(program);
  replicationCommands(program, (o) => configFrom(o));
  auditCommands(program, (o) => configFrom(o));
  transferCommands(program);
  signingCommands(program);

  await program.parseAsync(argv);
}
