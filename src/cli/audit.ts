import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/config';
import { withBackends } from './with-backends';
import { createAuditLog } from '../audit';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import { createPublicKey } from 'node:crypto';
import { CheckpointError, openCheckpoint, rawPublicKey, verifierKey } from '../audit/checkpoint';
import { loadOrCreateAuditKey } from '../audit/audit-log';
import { HsmEd25519Signer } from '../keys/hsm-signer';
import { keyObjectSigner } from '../keys/signer';
import { rotationEvent } from '../audit/key-rotation';
import { verifyAuditLog } from '../audit/verify';
import { adoptCatalog } from '../audit/adopt';
import { userInfo } from 'node:os';
import { verifyInclusion } from '../audit/merkle';
import { parseVerifierKey } from '../audit/cosignature';

type ConfigLoader = (opts: { config?: string }) => Config;

/** `<name>+<hex key id>+<base64(0x01 ‖ key)>` (what `GET /audit/key` gives as verifierKey) → name and key. */
function parseVerifier(v: string): { name: string; publicKey: Buffer } {
  try {
    return parseVerifierKey(v, 0x01);
  } catch {
    throw new CheckpointError('--verifier must be name+keyid+base64key (GET /audit/key)');
  }
}

/**
 * `cairn audit verify` and `cairn audit prove`: offline verification of the log on the same CAIRN_*
 * configuration as the server (the database), with the public key from the key file or given as
 * `--verifier` so that an auditor needs no secret.
 */
export function auditCommands(program: Command, load: ConfigLoader): void {
  const audit = program.command('audit').description('verify the tamper-evident audit log');
  audit.option('-c, --config <file>', 'YAML configuration file');

  audit
    .command('verify')
    .description(
      'recompute the tree, check every checkpoint, a saved checkpoint and the catalog; exit 1 on the first inconsistency',
    )
    .option('--checkpoint <file>', 'a checkpoint saved earlier (GET /audit/checkpoint): the log must extend it')
    .option('--verifier <key>', "the log's verifier key (GET /audit/key); default: derived from audit.keyFile")
    .option('--no-catalog', 'do not cross-check the catalog against the log')
    .option(
      '--witness <key>',
      "a witness's cosignature key (its GET /witness/key): the checkpoint must carry its valid cosignature; repeatable",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('--json', 'print the report as JSON')
    .action(
      async (
        o: { checkpoint?: string; verifier?: string; catalog: boolean; json?: boolean; witness: string[] },
        cmd: Command,
      ) => {
        const config = load(cmd.optsWithGlobals() as { config?: string });
        const report = await withBackends(config, async (b) => {
          if (!(b.catalog instanceof KyselyCatalog)) throw new Error('unsupported catalog');
          let name = config.audit.origin;
          let publicKey: Buffer;
          if (o.verifier) ({ name, publicKey } = parseVerifier(o.verifier));
          else publicKey = createAuditLog(config, b.catalog).publicKey;
          return verifyAuditLog(b.catalog.db, {
            origin: name,
            publicKey,
            saved: o.checkpoint ? readFileSync(o.checkpoint, 'utf8') : undefined,
            crossCheck: o.catalog,
            witnesses: o.witness.map((w) => parseVerifierKey(w, 0x04)),
            blobExists: o.catalog ? async (d) => (await b.blobs.stat(d)) !== undefined : undefined,
          });
        });
        if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else if (report.ok)
          process.stdout.write(
            `audit log OK: ${report.size} entries, ${report.checkpointsVerified} checkpoint(s) verified${o.catalog ? ', catalog consistent' : ''}\n`,
          );
        else {
          process.stdout.write(
            `audit log INCONSISTENT (${report.problems.length} problem(s)); first: ${report.problems[0]}\n`,
          );
          for (const p of report.problems.slice(1, 50)) process.stdout.write(`  also: ${p}\n`);
        }
        process.exitCode = report.ok ? 0 : 1;
      },
    );

  audit
    .command('adopt')
    .description('once, after upgrading from a version without the audit log: log what the catalog already holds')
    .action(async (_o: unknown, cmd: Command) => {
      const config = load(cmd.optsWithGlobals() as { config?: string });
      const counts = await withBackends(config, async (b) => {
        if (!(b.catalog instanceof KyselyCatalog)) throw new Error('unsupported catalog');
        const log = createAuditLog(config, b.catalog);
        await log.init();
        const c = await adoptCatalog(b.catalog.db, log, `cli:${userInfo().username}`);
        await log.checkpoint();
        await log.close();
        return c;
      });
      process.stdout.write(
        `adopted ${counts.manifests} manifest(s), ${counts.tags} tag(s), ${counts.blobs} blob link(s)\n`,
      );
    });

  audit
    .command('keygen')
    .description(
      'create the Ed25519 checkpoint and receipt signing key unless it exists (a PKCS#8 PEM file, mode 0600, or a key pair in an HSM); prints the verifier key',
    )
    .option('--out <file>', 'where (default: audit.keyFile)')
    .option('--pkcs11 <uri>', 'generate the key pair in the token this pkcs11: URI names (then set audit.key to it)')
    .action(async (o: { out?: string; pkcs11?: string }, cmd: Command) => {
      const config = load(cmd.optsWithGlobals() as { config?: string });
      const publicKey = o.pkcs11
        ? HsmEd25519Signer.generate(o.pkcs11)
        : createPublicKey(loadOrCreateAuditKey(o.out ?? config.audit.keyFile));
      process.stdout.write(`${verifierKey(config.audit.origin, rawPublicKey(publicKey))}\n`);
    });

  audit
    .command('rotate-key')
    .description(
      'hand the checkpoint and receipt signing over to a new key: a checkpoint by the old key, then an audit.key-rotated event signed by both keys',
    )
    .requiredOption(
      '--to <key>',
      'the new key: a PKCS#8 PEM file (created if absent) or a pkcs11: URI (cairn audit keygen --pkcs11)',
    )
    .action(async (o: { to: string }, cmd: Command) => {
      const config = load(cmd.optsWithGlobals() as { config?: string });
      const next = o.to.startsWith('pkcs11:')
        ? HsmEd25519Signer.open(o.to)
        : keyObjectSigner(loadOrCreateAuditKey(o.to));
      const out = await withBackends(config, async (b) => {
        const log = createAuditLog(config, b.catalog);
        await log.init();
        if (!(await log.signsNow()))
          throw new CheckpointError(
            `the configured key ${log.verifier} is not the one signing this log now: rotate from that one`,
          );
        // Everything up to the hand-over is covered by the old key's signature.
        await log.checkpoint();
        const size = await log.size();
        const previous = log.signingKey!;
        const seq = await log.append(
          rotationEvent(config.audit.origin, previous, next, size, `cli:${userInfo().username}`),
        );
        await log.close();
        const nextLog = createAuditLog(
          { ...config, audit: { ...config.audit, key: undefined } },
          b.catalog,
          undefined,
          {
            signer: next,
          },
        );
        await nextLog.init();
        await nextLog.checkpoint();
        await nextLog.close();
        return { seq, previous: log.verifier, next: nextLog.verifier };
      });
      process.stdout.write(
        `${JSON.stringify(out)}\nnow set audit.keyFile (or audit.key) to the new key on every replica; until then they sign no checkpoint or receipt\n`,
      );
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint of the log now and print it (save it to check consistency later)')
    .option('--out <file>', 'also write it to this file')
    .action(async (o: { out?: string }, cmd: Command) => {
      const config = load(cmd.optsWithGlobals() as { config?: string });
      const note = await withBackends(config, async (b) => {
        const log = createAuditLog(config, b.catalog);
        await log.init();
        return (await log.checkpoint()) ?? (await log.latestCheckpoint())?.note;
      });
      if (!note) {
        process.stderr.write('cairn: the audit log is empty\n');
        process.exitCode = 1;
        return;
      }
      if (o.out) writeFileSync(o.out, note);
      process.stdout.write(note);
    });

  audit
    .command('prove <artifact>')
    .description('the events about <repository>@<digest>, each with its inclusion proof against the latest checkpoint')
    .action(async (artifact: string, _o: unknown, cmd: Command) => {
      const config = load(cmd.optsWithGlobals() as { config?: string });
      const at = artifact.lastIndexOf('@');
      if (at < 1) {
        process.stderr.write('cairn: give <repository>@<digest>\n');
        process.exitCode = 2;
        return;
      }
      const repository = artifact.slice(0, at);
      const digest = artifact.slice(at + 1);
      const out = await withBackends(config, async (b) => {
        const log = createAuditLog(config, b.catalog);
        await log.init();
        const latest = await log.latestCheckpoint();
        if (!latest) return undefined;
        const cp = openCheckpoint(latest.note, log.origin, log.publicKey);
        const events = (await log.search({ repository, digest })).filter((e) => e.seq < cp.size);
        const proved = [];
        for (const e of events) {
          const [entry] = await log.entries(e.seq, e.seq + 1);
          const proof = await log.inclusionProof(e.seq, cp.size);
          if (!verifyInclusion(entry!.leafHash, e.seq, cp.size, proof, cp.root))
            throw new Error(`entry ${e.seq} does not prove against the checkpoint`);
          proved.push({
            index: e.seq,
            event: e,
            leafHash: entry!.leafHash.toString('base64'),
            proof: proof.map((h) => h.toString('base64')),
          });
        }
        return { checkpoint: latest.note, verifierKey: log.verifier, events: proved };
      });
      if (!out) {
        process.stderr.write('cairn: no checkpoint has been signed yet\n');
        process.exitCode = 1;
        return;
      }
      if (out.events.length === 0) process.exitCode = 1;
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    });
}
