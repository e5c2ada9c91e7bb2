import { userInfo } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import type { Backends } from '../app';
import { wrappedCounts } from '../encryption-wiring';
import { createAuditLog } from '../audit';
import { createArtifactIndex } from '../catalog';
import type { Config } from '../config/config';
import { HsmKey } from '../keys/hsm';
import { HsmP256Signer } from '../keys/hsm-signer';
import { writeKeyFile } from '../keys/key-encryption';
import { rewrapDataKeys } from '../maintenance/rewrap';
import { tryParseDigest } from '../oci/digest';
import { onRoute } from '../storage/route-context';
import { Governance, immutableTag } from '../policy/governance';

type Run = <A extends unknown[]>(
  fn: (b: Backends, config: Config, ...args: A) => Promise<void>,
) => (...args: A) => Promise<void>;

const out = (v: unknown): void => {
  process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`);
};

export class EncryptionUsageError extends Error {}

function encryptionOf(b: Backends) {
  if (!b.encryption)
    throw new EncryptionUsageError('encryption.key (CAIRN_ENCRYPTION_KEY) is not configured: nothing is encrypted');
  return b.encryption;
}

/** The key-encryption key verbs under `cairn admin keys`, and `cairn admin encrypt` / `erase`. */
export function encryptionCommands(admin: Command, keys: Command, run: Run): void {
  keys
    .command('create-kek')
    .description('make a key-encryption key for encryption.key: a 256-bit key file (mode 0600) or an AES key in an HSM')
    .option('--file <path>', 'write a new key file (never over an existing one)')
    .option('--pkcs11 <uri>', 'generate a non-extractable AES-256 key in the token the pkcs11: URI names')
    .action((o: { file?: string; pkcs11?: string }) => {
      if (!o.file === !o.pkcs11) throw new EncryptionUsageError('give exactly one of --file or --pkcs11');
      if (o.file) {
        const key = writeKeyFile(o.file);
        out({ key: pathToFileURL(o.file).href, id: key.id });
      } else {
        HsmKey.generateAes(o.pkcs11!);
        out({ key: o.pkcs11!.replace(/pin-value=[^&]*/, 'pin-value=***'), created: true });
      }
    });

  keys
    .command('create-token-key')
    .description('make an ECDSA P-256 key pair in an HSM for auth.signingKey (tokens signed by the device)')
    .requiredOption('--pkcs11 <uri>', 'the pkcs11: URI naming the new key (token, object label, module, PIN)')
    .action((o: { pkcs11: string }) => {
      const publicKey = HsmP256Signer.generate(o.pkcs11);
      out({
        key: o.pkcs11.replace(/pin-value=[^&]*/, 'pin-value=***'),
        publicKey: publicKey.export({ format: 'jwk' }),
      });
    });

  keys
    .command('kek-status')
    .description('the key-encryption keys configured and how many data keys each wraps')
    .action(
      run(async (b) => {
        const e = encryptionOf(b);
        const wrapped = await wrappedCounts(b.catalog);
        const dataKeys = Object.fromEntries(wrapped.dataKeys);
        const secrets = Object.fromEntries(wrapped.secrets);
        out({
          current: e.ring.current.id,
          previous: e.ring.previous.map((k) => k.id),
          dataKeys,
          secrets,
          // A previous key may be dropped from the configuration once it wraps nothing.
          retirable: e.ring.previous.filter((k) => !dataKeys[k.id] && !secrets[k.id]).map((k) => k.id),
        });
      }),
    );

  keys
    .command('rewrap')
    .description('re-wrap every data key still wrapped by a previous key-encryption key (no blob is re-encrypted)')
    .action(
      run(async (b) => {
        const r = await rewrapDataKeys(encryptionOf(b).dataKeys, encryptionOf(b).ring);
        const secrets = await b.identities.resealSecrets();
        out({
          ...r,
          secretsResealed: secrets,
          remaining: Object.fromEntries((await wrappedCounts(b.catalog)).dataKeys),
        });
      }),
    );

  admin
    .command('encrypt')
    .description('seal blobs stored in plaintext (from before encryption) in place; resumable, online')
    .option('--limit <n>', 'stop after sealing this many', (v) => Number(v))
    .action(
      run(async (b, _c, o: { limit?: number }) => {
        const e = encryptionOf(b);
        let sealed = 0;
        let already = 0;
        for await (const blob of b.blobs.list()) {
          if (o.limit !== undefined && sealed >= o.limit) break;
          // Sealed where it lies: with storage routes, in the route that holds this copy.
          const route = (blob as { route?: string }).route;
          const seal = () => e.blobs.sealInPlace(blob.digest);
          if (await (route ? onRoute(route, seal) : seal())) {
            sealed++;
            if (sealed % 100 === 0) process.stderr.write(`sealed ${sealed}\n`);
          } else already++;
        }
        // The catalog's secrets stored before encryption (TOTP seeds, token-signing keys) are sealed too.
        const secrets = await b.identities.resealSecrets();
        out({ sealed, alreadySealed: already, secretsSealed: secrets });
      }),
    );

  admin
    .command('erase <digest>')
    .description(
      "crypto-shredding: destroy a blob's data key and bytes, so no copy anywhere (backups, bucket versions) can be read",
    )
    .requiredOption('--reason <text>', 'why (recorded in the audit log)')
    .action(
      run(async (b, config, digest: string, o: { reason: string }) => {
        const e = encryptionOf(b);
        if (!tryParseDigest(digest)) throw new EncryptionUsageError(`not a digest: ${digest}`);
        if (!o.reason.trim()) throw new EncryptionUsageError('--reason must say why');
        const usage = await b.catalog.blobUsage(digest);
        const rules = new Governance(config.auth.policyDir, Infinity).current();
        const artifacts = createArtifactIndex(b.catalog);
        const refusals: string[] = [];
        for (const m of usage.manifests) {
          const artifact = await artifacts.get(m.repository, m.digest);
          if (artifact?.stage === 'approved') refusals.push(`${m.repository}@${m.digest} is approved`);
          for (const tag of m.tags) {
            if (immutableTag(rules, m.repository, tag))
              refusals.push(`${m.repository}:${tag} is an immutable tag on ${m.digest}`);
          }
        }
        if (refusals.length > 0)
          throw new EncryptionUsageError(
            `refused: manifests that must stay readable use ${digest}:\n  ${refusals.join('\n  ')}\n` +
              'move them out of approved (deprecate, retire) or delete them first',
          );
        const info = await b.blobs.stat(digest);
        for (const repository of usage.linkedIn) await b.catalog.unlinkBlob(repository, digest);
        const shredded = await e.blobs.erase(digest);
        const log = createAuditLog(config, b.catalog, undefined, { sign: false });
        await log.append({
          type: 'blob.erased',
          identity: `cli:${userInfo().username}`,
          action: 'erase',
          decision: 'allow',
          digest,
          detail: {
            reason: o.reason,
            size: info?.size ?? null,
            dataKeysDestroyed: shredded.keys,
            bytesRemoved: shredded.removed,
            unlinkedFrom: usage.linkedIn.join(' '),
            referencedBy: usage.manifests.map((m) => `${m.repository}@${m.digest}`).join(' '),
          },
        });
        await log.close();
        if (shredded.keys === 0 && shredded.removed)
          process.stderr.write(
            `cairn: warning: ${digest} was stored in plaintext: its bytes are removed here, but copies in backups stay readable\n`,
          );
        out({ digest, ...shredded, unlinkedFrom: usage.linkedIn, referencedBy: usage.manifests.length });
      }),
    );
}
