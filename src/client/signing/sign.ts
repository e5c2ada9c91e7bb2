import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, type Signer, type Witness } from '@sigstore/sign';
import { resolveCredentials } from '../credentials';
import { parseReference } from '../reference';
import { RegistryClient } from '../registry-client';
import { SigningError } from './errors';
import { keylessSigning, resolveIdentityToken, type KeylessOptions } from './keyless';
import { parsePrivateKey, readKeyText } from './keys';
import { LocalKeySigner } from './local-signer';
import { bundleReferrerManifest, EMPTY_CONFIG } from './referrer-manifest';
import { pushReferrer, resolveSubject } from './registry-ops';
import { IN_TOTO_PAYLOAD_TYPE, statementFor } from './statement';

export interface SignOptions extends KeylessOptions {
  /** A private key file or `env://VAR`; without it, keyless through Fulcio. */
  key?: string;
  plainHttp?: boolean;
  predicateType: string;
  predicate: unknown;
}

export interface SignResult {
  repository: string;
  /** The signed manifest. */
  digest: string;
  /** The referrer manifest that holds the bundle. */
  referrer: string;
  predicateType: string;
  signedWith: string;
}

async function signerFor(
  opts: SignOptions,
  env: NodeJS.ProcessEnv,
): Promise<{ signer: Signer; witnesses: Witness[]; signedWith: string }> {
  if (opts.key) {
    if (opts.identityToken) throw new SigningError('give --key or --identity-token, not both');
    const src = await readKeyText(opts.key, env);
    const signer = new LocalKeySigner(parsePrivateKey(src), src.label);
    // A key signature stays offline, like `cosign sign --key … --tlog-upload=false`: no log, no timestamp.
    return { signer, witnesses: [], signedWith: `key ${signer.hint} (${signer.algorithm})` };
  }
  const token = await resolveIdentityToken(opts.identityToken, env);
  return { ...keylessSigning(opts, token), signedWith: 'a Fulcio certificate (keyless)' };
}

/**
 * `cairn sign` and `cairn attest`: resolves the reference to a digest, signs an in-toto statement about
 * that digest as a DSSE envelope in a v0.3 Sigstore bundle, and attaches the bundle as a referrer.
 * The signer is set up (key read, token found) before anything is sent, so bad input fails fast.
 */
export async function signArtifact(
  reference: string,
  opts: SignOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SignResult> {
  const ref = parseReference(reference, { plainHttp: opts.plainHttp });
  const { signer, witnesses, signedWith } = await signerFor(opts, env);
  const client = new RegistryClient({ baseUrl: ref.baseUrl, credentials: await resolveCredentials(ref.registry, env) });
  try {
    const scope = `repository:${ref.repository}:pull,push`;
    const subject = await resolveSubject(client, ref, scope);
    const statement = statementFor(ref.repository, subject.digest, opts.predicateType, opts.predicate);
    const bundle = await new DSSEBundleBuilder({ signer, witnesses }).create({
      data: Buffer.from(JSON.stringify(statement)),
      type: IN_TOTO_PAYLOAD_TYPE,
    });
    const bundleJson = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
    const referrer = bundleReferrerManifest(bundleJson, subject, opts.predicateType);
    await pushReferrer(client, ref.repository, referrer, bundleJson, EMPTY_CONFIG, env);
    return {
      repository: ref.repository,
      digest: subject.digest,
      referrer: referrer.digest,
      predicateType: opts.predicateType,
      signedWith,
    };
  } finally {
    client.close();
  }
}
