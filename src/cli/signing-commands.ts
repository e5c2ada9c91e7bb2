import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { ReferenceError } from '../client/reference';
import { RegistryError } from '../client/registry-client';
import { SigningError } from '../client/signing/errors';
import { signArtifact, type SignOptions } from '../client/signing/sign';
import { COSIGN_SIGN_PREDICATE_TYPE, predicateFrom, resolvePredicateType } from '../client/signing/statement';
import { verifyArtifact, type SignatureReport, type VerifyReport } from '../client/signing/verify';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Runs a command body; every failure is one line on stderr and exit 1, as cosign does (a verification
 * that finds nothing valid is a failure too, so scripts need only check for 0).
 */
function run<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      let why = e.message;
      if (err instanceof RegistryError && (err.status === 401 || err.code === 'UNAUTHORIZED'))
        why +=
          '\n  log in with "cairn login <registry> -u <user> --password-stdin", or set CAIRN_USERNAME and CAIRN_PASSWORD';
      else if (err instanceof RegistryError && err.code === 'DENIED')
        why += '\n  signing needs push permission on the repository; verifying needs pull';
      else if (
        !(err instanceof SigningError || err instanceof ReferenceError || err instanceof RegistryError) &&
        e.code === 'ECONNREFUSED'
      )
        why = `cannot connect (${e.message}); is the service running, and is the address right?`;
      process.stderr.write(`cairn: ${why}\n`);
      process.exitCode = 1;
    }
  };
}

interface SignFlags {
  key?: string;
  fulcioUrl?: string;
  rekorUrl?: string;
  timestampServerUrl?: string;
  identityToken?: string;
  plainHttp?: boolean;
}

function withSigningFlags(cmd: Command): Command {
  return cmd
    .option(
      '--key <file|env://VAR>',
      'unencrypted PKCS#8 PEM private key (ECDSA P-256 or Ed25519), or env://VAR holding one; without it, keyless',
    )
    .option('--fulcio-url <url>', 'keyless: the Fulcio certificate authority', 'https://fulcio.sigstore.dev')
    .option('--rekor-url <url>', 'keyless: the Rekor transparency log (v1 API)', 'https://rekor.sigstore.dev')
    .option('--timestamp-server-url <url>', 'keyless: an RFC 3161 timestamp authority to countersign as well')
    .option('--identity-token <token|file>', 'keyless: the OIDC identity token (default: $SIGSTORE_ID_TOKEN)')
    .option('--plain-http', 'talk HTTP to the registry, not HTTPS (default only for localhost)');
}

function signOptions(f: SignFlags, predicateType: string, predicate: unknown): SignOptions {
  return {
    key: f.key,
    fulcioUrl: f.fulcioUrl,
    rekorUrl: f.rekorUrl,
    tsaUrl: f.timestampServerUrl,
    identityToken: f.identityToken,
    plainHttp: f.plainHttp,
    predicateType,
    predicate,
  };
}

function signerOf(s: SignatureReport): string {
  const g = s.signer;
  if (!g) return 'an unknown signer';
  if (g.keyFingerprint) return `key ${g.keyName ?? ''} (sha256:${g.keyFingerprint})`.replace('key  (', 'key (');
  return `${g.subject ?? '?'} (issuer ${g.issuer ?? '?'})`;
}

function printReport(r: VerifyReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    for (const s of r.signatures.filter((x) => x.verified)) {
      process.stdout.write(
        `Verified ${r.repository}@${r.digest}: ${s.predicateType ?? 'signature'} signed by ${signerOf(s)}${s.signedAt ? ` at ${s.signedAt}` : ''} [${s.referrer}]\n`,
      );
    }
  }
  for (const s of r.signatures.filter((x) => !x.verified))
    process.stderr.write(`not verified: ${s.referrer}: ${s.reason ?? 'unknown reason'}\n`);
  if (r.receipts) {
    for (const x of r.receipts) {
      if (x.verified && !json)
        process.stdout.write(
          `Receipt ${r.repository}@${r.digest}: pushed by ${x.receipt!.pushedBy} at ${x.receipt!.time}${x.receipt!.source ? ` from ${x.receipt!.source}` : ''}, audit log entry ${x.receipt!.auditLog.index} of ${x.receipt!.auditLog.treeSize} (inclusion proof verified) [${x.referrer}]\n`,
        );
      if (!x.verified) process.stderr.write(`receipt not verified: ${x.referrer}: ${x.reason ?? 'unknown reason'}\n`);
    }
    if (!r.receipts.some((x) => x.verified)) {
      process.stderr.write(`cairn: no valid registry receipt on ${r.repository}@${r.digest}\n`);
      process.exitCode = 1;
    }
    // Only receipts were asked for: no signature is expected.
    if (r.checked === 0 && r.verifiedCount === 0 && r.receipts.some((x) => x.verified) && process.exitCode !== 1)
      return;
  }
  if (r.verifiedCount === 0) {
    process.stderr.write(
      `cairn: no valid signature on ${r.repository}@${r.digest}: ${r.checked === 0 ? 'no matching Sigstore bundle among its referrers' : `${r.checked} bundle(s) checked, none verified`}\n`,
    );
    process.exitCode = 1;
  }
}

/** `cairn sign`, `cairn attest`, `cairn verify`: cosign's commands and flag names, against any OCI 1.1 registry. */
export function signingCommands(program: Command): void {
  withSigningFlags(
    program
      .command('sign <reference>')
      .description(
        'sign a manifest (its digest; a tag is resolved first) and attach the Sigstore bundle as a referrer, as cosign v3 does',
      ),
  ).action(
    run(async (reference: string, f: SignFlags) => {
      const r = await signArtifact(reference, signOptions(f, COSIGN_SIGN_PREDICATE_TYPE, {}));
      process.stderr.write(`signed ${r.repository}@${r.digest} with ${r.signedWith}\n`);
      process.stdout.write(`${r.repository}@${r.referrer}\n`);
    }),
  );

  withSigningFlags(
    program
      .command('attest <reference>')
      .description('sign an in-toto attestation (e.g. SLSA provenance) about a manifest and attach it as a referrer')
      .requiredOption('--predicate <file>', 'the predicate (JSON; any text for --type custom)')
      .option(
        '--type <uri|name>',
        "predicate type URI, or cosign's names: slsaprovenance1, slsaprovenance, spdxjson, cyclonedx, vuln, openvex, link, custom",
        'custom',
      ),
  ).action(
    run(async (reference: string, f: SignFlags & { predicate: string; type: string }) => {
      const predicateType = resolvePredicateType(f.type);
      let text: string;
      try {
        text = await readFile(f.predicate, 'utf8');
      } catch (err) {
        throw new SigningError(
          `--predicate ${f.predicate}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
      }
      const r = await signArtifact(
        reference,
        signOptions(f, predicateType, predicateFrom(text, predicateType, f.predicate)),
      );
      process.stderr.write(`attested ${r.repository}@${r.digest} (${predicateType}) with ${r.signedWith}\n`);
      process.stdout.write(`${r.repository}@${r.referrer}\n`);
    }),
  );

  program
    .command('verify <reference>')
    .description(
      'verify the Sigstore signatures and attestations attached to a manifest; exit 0 when at least one verifies',
    )
    .option('--key <file|env://VAR>', 'PEM public key the signature must verify with; repeatable', collect, [])
    .option(
      '--trusted-root <file>',
      'keyless: a Sigstore trusted_root.json (Fulcio, Rekor, CT log, TSA keys); repeatable',
      collect,
      [],
    )
    .option('--certificate-identity <san>', 'keyless: the signer identity (certificate SAN) required')
    .option('--certificate-identity-regexp <re>', 'keyless: a regular expression the whole signer identity must match')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer required')
    .option('--certificate-oidc-issuer-regexp <re>', 'keyless: a regular expression the whole issuer must match')
    .option('--type <uri|name>', 'only attestations of this predicate type (a URI or a cosign name)')
    .option('-o, --output <format>', 'text (one line per verified signature) or json (the full report)', 'text')
    .option(
      '--registry-key <file|env://VAR>',
      "the registry's receipt key (GET /v2/_cairn/receipts/key): also check its signed receipt of the push, offline; repeatable",
      collect,
      [],
    )
    .option('--plain-http', 'talk HTTP to the registry, not HTTPS (default only for localhost)')
    .action(
      run(
        async (
          reference: string,
          f: {
            key: string[];
            trustedRoot: string[];
            certificateIdentity?: string;
            certificateIdentityRegexp?: string;
            certificateOidcIssuer?: string;
            certificateOidcIssuerRegexp?: string;
            type?: string;
            output: string;
            registryKey: string[];
            plainHttp?: boolean;
          },
        ) => {
          if (f.output !== 'text' && f.output !== 'json')
            throw new SigningError(`--output ${f.output}: expected text or json`);
          const report = await verifyArtifact(reference, {
            keys: f.key,
            trustedRoots: f.trustedRoot,
            identity: {
              identity: f.certificateIdentity,
              identityRegexp: f.certificateIdentityRegexp,
              issuer: f.certificateOidcIssuer,
              issuerRegexp: f.certificateOidcIssuerRegexp,
            },
            predicateType: f.type ? resolvePredicateType(f.type) : undefined,
            plainHttp: f.plainHttp,
            registryKeys: f.registryKey,
          });
          printReport(report, f.output === 'json');
        },
      ),
    );
}
