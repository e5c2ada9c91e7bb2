import type { Command } from 'commander';
import type { Config } from '../config/config';
import { createAuditLog } from '../audit';
import { createReplicationState } from '../catalog';
import { createLogger } from '../observability/logger';
import { defaultUserAgent } from '../client/registry-client';
import { parseReference } from '../core/references';
import { repositoryMatcher } from '../replication/plan';
import { applyAction } from '../replication/replicator';
import { ReplicationTarget } from '../replication/target';
import { replicationStatus } from '../replication/status';
import { withBackends } from './with-backends';

export class ReplicationUsageError extends Error {}

const out = (v: unknown): void => void process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

function targetOf(config: Config, name: string) {
  const t = config.replication.targets.find((x) => x.name === name);
  if (!t)
    throw new ReplicationUsageError(
      `no replication target "${name}" in the configuration (targets: ${config.replication.targets.map((x) => x.name).join(', ') || 'none'})`,
    );
  return t;
}

/** `cairn replication status` and `cairn replicate <ref> --to <target>`, on the configured database. */
export function replicationCommands(program: Command, configOf: (o: { config?: string }) => Config): void {
  const replication = program.command('replication').description('push replication to other registries');
  replication
    .command('status')
    .description("each target's position in the audit log, its lag in events and seconds, and its last error")
    .option('-c, --config <file>', 'YAML configuration file')
    .action(async (o: { config?: string }) => {
      const config = configOf(o);
      await withBackends(config, async (b) => {
        const audit = createAuditLog(config, b.catalog, createLogger('silent'), { sign: false });
        await audit.init();
        try {
          out({
            targets: await replicationStatus(config.replication.targets, {
              audit,
              state: createReplicationState(b.catalog),
            }),
          });
        } finally {
          await audit.close();
        }
      });
    });

  program
    .command('replicate')
    .description('copy one artifact (with its tag, signatures, attestations and receipts) to a target now')
    .argument('<reference>', 'repository:tag or repository@sha256:…, in this registry')
    .requiredOption('--to <target>', 'the name of a target in replication.targets')
    .option('-c, --config <file>', 'YAML configuration file')
    .action(async (reference: string, o: { to: string; config?: string }) => {
      const config = configOf(o);
      const t = targetOf(config, o.to);
      const at = reference.search(/[@:](?=[^/]*$)/);
      if (at <= 0) throw new ReplicationUsageError(`${reference}: give repository:tag or repository@digest`);
      const repository = reference.slice(0, at);
      const ref = parseReference(reference.slice(at + 1));
      await withBackends(config, async (b) => {
        const m = await b.catalog.getManifest(repository, 'tag' in ref ? ref.tag : ref.digest);
        if (!m) throw new ReplicationUsageError(`${reference} is not in this registry`);
        const target = new ReplicationTarget(t, defaultUserAgent().replace('cairn-cli', 'cairn-replication'));
        try {
          const copier = await applyAction(b, target, repositoryMatcher(t), {
            kind: 'copy',
            repository,
            digest: m.digest,
            tags: 'tag' in ref ? [ref.tag] : [],
            withReferrers: true,
            via: [config.audit.origin],
          });
          out({ target: t.name, repository, digest: m.digest, ...(copier ? copier.counts : {}) });
        } finally {
          target.close();
        }
      });
    });
}
