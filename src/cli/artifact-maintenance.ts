import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/config';
import { createLogger } from '../observability/logger';
import { createAuditLog } from '../audit';
import { createArtifactIndex } from '../catalog';
import { Governance, GovernanceError } from '../policy/governance';
import { pruneDrafts } from '../maintenance/retention';
import { checkArtifact, type CheckResult } from './local-check';
import { withBackends } from './with-backends';
import { packDirectory } from '../client/pack';
import { resolveMetadata } from '../client/provenance';
import { Reporter } from '../client/progress';
import { loadProjectFile } from '../client/project-file';

type ConfigLoader = (opts: { config?: string }) => Config;

/** What to check: an OCI image layout, a directory `cairn push` would pack, or a manifest file. */
async function checkTargets(
  target: string,
  o: { type: string; configBlob?: string },
): Promise<{ name: string; manifest: Buffer; config?: Buffer }[]> {
  const info = await stat(target);
  if (info.isFile()) {
    return [
      {
        name: target,
        manifest: await readFile(target),
        ...(o.configBlob ? { config: await readFile(o.configBlob) } : {}),
      },
    ];
  }
  if (existsSync(path.join(target, 'oci-layout'))) {
    const blob = (d: string) => readFile(path.join(target, 'blobs', ...d.split(':')));
    const index = JSON.parse(await readFile(path.join(target, 'index.json'), 'utf8')) as {
      manifests?: { digest: string }[];
    };
    const out = [];
    for (const m of index.manifests ?? []) {
      const manifest = await blob(m.digest);
      const configDigest = (JSON.parse(manifest.toString('utf8')) as { config?: { digest?: string } }).config?.digest;
      out.push({
        name: `${target}@${m.digest}`,
        manifest,
        ...(configDigest ? { config: await blob(configDigest).catch(() => undefined) } : {}),
      });
    }
    return out;
  }
  if (o.type !== 'model' && o.type !== 'dataset') throw new GovernanceError('--type must be model or dataset');
  // Packed exactly as `cairn push` would (its cairn.yaml and CI variables included), without uploading.
  const file = await loadProjectFile(target);
  const meta = resolveMetadata({
    flags: {},
    defaultName: path.basename(path.resolve(target)),
    ...(file ? { file } : {}),
  });
  const packed = await packDirectory(o.type, target, meta, new Reporter({ quiet: true }));
  return [{ name: target, manifest: packed.manifest.bytes, config: packed.config.bytes }];
}

function report(name: string, r: CheckResult, stage: string): boolean {
  const lines = [
    ...r.errors.map((e) => `  refused on push: ${e}`),
    ...(stage === 'approved' ? r.approval.map((e) => `  not approvable: ${e}`) : []),
  ];
  process.stdout.write(
    `${lines.length ? 'FAIL' : 'ok  '} ${name}${r.digest ? ` (${r.digest}${r.metadata ? `, ${r.metadata.kind}` : ''})` : ''}\n${lines.map((l) => `${l}\n`).join('')}`,
  );
  return lines.length === 0;
}

/** `cairn policy check` and `cairn retention`. */
export function artifactMaintenanceCommands(program: Command, policy: Command, load: ConfigLoader): void {
  policy
    .command('check <path>')
    .description(
      "run the registry's push validation and governance rules locally on a manifest, an OCI layout or a directory to push; exit 1 on any failure",
    )
    .option('--type <kind>', 'for a directory to push: model or dataset', 'model')
    .option('--config-blob <file>', 'for a manifest file: its config blob')
    .option('--repository <name>', 'the repository it is for (rules are chosen by repository)', 'local/check')
    .option(
      '--stage <stage>',
      'check readiness for this stage: approved (metadata and metric rules) or candidate',
      'approved',
    )
    .option(
      '--policy-dir <dir>',
      'where governance.yaml is (default: the configured policy directory, else the built-in rules)',
    )
    .action(
      async (
        target: string,
        o: { type: string; configBlob?: string; repository: string; stage: string; policyDir?: string },
        cmd: Command,
      ) => {
        try {
          const config = load(cmd.optsWithGlobals() as { config?: string });
          const rules = new Governance(o.policyDir ?? config.auth.policyDir, Infinity).current();
          let ok = true;
          for (const t of await checkTargets(target, o))
            ok =
              report(
                t.name,
                await checkArtifact({
                  manifest: t.manifest,
                  ...(t.config ? { config: t.config } : {}),
                  repository: o.repository,
                  rules,
                }),
                o.stage,
              ) && ok;
          process.exitCode = ok ? 0 : 1;
        } catch (err) {
          process.stderr.write(`cairn: ${(err as Error).message}\n`);
          process.exitCode = 2;
        }
      },
    );

  program
    .command('retention')
    .description('delete model and dataset drafts older than the retention rules allow (governance.yaml)')
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--dry-run', 'only list what would be deleted')
    .action(async (o: { config?: string; dryRun?: boolean }) => {
      const config = load(o);
      const logger = createLogger(config.log.level === 'info' ? 'warn' : config.log.level);
      await withBackends(config, async (b) => {
        const audit = createAuditLog(config, b.catalog, logger, { sign: false });
        try {
          const rules = new Governance(config.auth.policyDir, Infinity).current();
          const r = await pruneDrafts(
            { artifacts: createArtifactIndex(b.catalog), catalog: b.catalog, audit },
            rules,
            Date.now(),
            { dryRun: o.dryRun },
          );
          for (const d of r.deleted)
            process.stdout.write(
              `${o.dryRun ? 'would delete' : 'deleted'} ${d.repository}@${d.digest} (draft, ${d.ageDays} days old)\n`,
            );
          for (const k of r.kept) process.stdout.write(`kept ${k.repository}@${k.digest}: ${k.why}\n`);
          process.stdout.write(
            `${r.deleted.length} draft(s) ${o.dryRun ? 'to delete' : 'deleted'}; run \`cairn gc\` to reclaim their bytes\n`,
          );
        } finally {
          await audit.close();
        }
      });
    });
}
