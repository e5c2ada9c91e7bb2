import { bundleToJSON } from '@sigstore/bundle';
import { DSSEBundleBuilder, FulcioSigner, MessageSignatureBundleBuilder, RekorWitness } from '@sigstore/sign';
import type { SigstoreMock } from './sigstore-mock';

/**
 * What cosign v2 pushes for a keyless signature or attestation under its tag scheme: the layer's bytes
 * (the simple-signing payload, or the DSSE envelope) and its annotations (the signature, the Fulcio
 * certificate as PEM, and the Rekor entry with its signed entry timestamp). Made with @sigstore/sign
 * against the local Sigstore, then laid out as cosign lays it out.
 */
export async function cosignV2Keyless(
  mock: SigstoreMock,
  identity: { sub: string; iss: string },
  kind: 'sig' | 'att',
  bytes: Buffer,
): Promise<{ bytes: Buffer; annotations: Record<string, string> }> {
  const signer = new FulcioSigner({
    fulcioBaseURL: mock.fulcioUrl,
    identityProvider: { getToken: async () => mock.identityToken(identity) },
  });
  const bundle =
    kind === 'sig'
      ? await new MessageSignatureBundleBuilder({
          signer,
          witnesses: [new RekorWitness({ rekorBaseURL: mock.rekorUrl, fetchOnConflict: true })],
        }).create({ data: bytes })
      : await new DSSEBundleBuilder({
          signer,
          witnesses: [new RekorWitness({ rekorBaseURL: mock.rekorUrl, entryType: 'intoto', fetchOnConflict: true })],
        }).create({ data: bytes, type: 'application/vnd.in-toto+json' });
  const json = bundleToJSON(bundle) as any;
  const vm = json.verificationMaterial;
  const der: string = vm.certificate?.rawBytes ?? vm.x509CertificateChain.certificates[0].rawBytes;
  const pem = `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  const entry = vm.tlogEntries[0];
  const annotations: Record<string, string> = {
    'dev.sigstore.cosign/certificate': pem,
    'dev.sigstore.cosign/chain': '',
    'dev.sigstore.cosign/bundle': JSON.stringify({
      SignedEntryTimestamp: entry.inclusionPromise.signedEntryTimestamp,
      Payload: {
        body: entry.canonicalizedBody,
        integratedTime: Number(entry.integratedTime),
        logIndex: Number(entry.logIndex),
        logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
      },
    }),
  };
  if (kind === 'sig') {
    annotations['dev.cosignproject.cosign/signature'] = json.messageSignature.signature;
    return { bytes, annotations };
  }
  // The .att layer is the envelope itself; cosign leaves the signature annotation empty there.
  annotations['dev.cosignproject.cosign/signature'] = '';
  return { bytes: Buffer.from(JSON.stringify(json.dsseEnvelope)), annotations };
}
