import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
  type HandlerFn,
} from '@sigstore/mock';
import { HashAlgorithm, PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';

/**
 * A private Sigstore on 127.0.0.1 for tests: Fulcio, Rekor (v1 API) and an RFC 3161 TSA from
 * @sigstore/mock behind one node:http server, and the trusted_root.json that trusts exactly them.
 */
export interface SigstoreMock {
  url: string;
  fulcioUrl: string;
  rekorUrl: string;
  tsaUrl: string;
  /** TrustedRoot JSON as @sigstore/protobuf-specs writes it (what `cosign trusted-root create` gives). */
  trustedRoot: unknown;
  /** An OIDC token the mock Fulcio accepts (it does not verify it): the SAN is `sub`, the issuer `iss`. */
  identityToken(claims: { sub: string; iss: string }): string;
  close(): Promise<void>;
}

type KeyPair = ReturnType<typeof generateKeyPairSync>;

const p256 = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest();

/**
 * The mock Rekor logs a DSSE entry as proposed (`proposedContent` with the whole envelope), where the
 * real Rekor stores the canonical form `{envelopeHash, payloadHash, signatures}` that verifiers compare
 * with the bundle. Rewrite it before the mock signs the entry, so that the SET, the inclusion proof and
 * the body all agree with what real Rekor returns.
 */
function canonicalDsseEntry(proposed: any): object {
  if (proposed?.kind !== 'dsse' || !proposed.spec?.proposedContent) return proposed;
  const envelopeText: string = proposed.spec.proposedContent.envelope;
  const envelope = JSON.parse(envelopeText) as { payload: string; signatures: { sig: string }[] };
  const verifier: string = proposed.spec.proposedContent.verifiers[0];
  return {
    apiVersion: proposed.apiVersion,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256(envelopeText).toString('hex') },
      payloadHash: { algorithm: 'sha256', value: sha256(Buffer.from(envelope.payload, 'base64')).toString('hex') },
      signatures: envelope.signatures.map((s) => ({ signature: s.sig, verifier })),
    },
  };
}

function base64url(o: object): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

export async function startSigstoreMock(): Promise<SigstoreMock> {
  // A fixed clock a little ahead of the mock's root certificates (created "now", second precision) and
  // with milliseconds 123: the mock TSA trims fractions, which otherwise fails about one run in ten.
  const clock = new Date((Math.floor(Date.now() / 1000) + 2) * 1000 + 123);
  const caKeys = p256();
  const ctKeys = p256();
  const tlogKeys = p256();
  const tsaKeys = p256();

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const ctlog = await initializeCTLog(ctKeys, clock);
  const ca = await initializeCA(caKeys, ctlog, clock);
  const tlog = await initializeTLog(url, tlogKeys, clock);
  const canonicalTlog = {
    publicKey: tlog.publicKey,
    logV2: tlog.logV2.bind(tlog),
    log: (e: object) => tlog.log(canonicalDsseEntry(e)),
  };
  const tsa = await initializeTSA(tsaKeys, clock);

  const routes = new Map<string, HandlerFn>();
  for (const h of [fulcioHandler(ca), rekorHandler(canonicalTlog), tsaHandler(tsa)]) routes.set(h.path, h.fn);
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fn = req.method === 'POST' ? routes.get(new URL(req.url ?? '/', url).pathname) : undefined;
      if (!fn) {
        res.writeHead(404).end();
        return;
      }
      fn(Buffer.concat(chunks).toString('utf8')).then(
        (r) => {
          res.writeHead(r.statusCode, { 'Content-Type': r.contentType ?? 'text/plain' });
          res.end(
            typeof r.response === 'string'
              ? r.response
              : Buffer.from(r.response.buffer, r.response.byteOffset, r.response.byteLength),
          );
        },
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
  });

  const validFor = { start: new Date(clock.getTime() - 24 * 3600 * 1000) };
  const der = (b: ArrayBufferView) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  // The transparency log and the CT log are described alike: a P-256 key and the id clients know it by.
  const log = (publicKey: Buffer | Uint8Array, keyId: Buffer) => ({
    baseUrl: url,
    hashAlgorithm: HashAlgorithm.SHA2_256,
    publicKey: { rawBytes: Buffer.from(publicKey), keyDetails: PublicKeyDetails.PKIX_ECDSA_P256_SHA_256, validFor },
    logId: { keyId },
    checkpointKeyId: undefined,
    operator: 'cairn-test',
  });
  const trustedRoot = TrustedRoot.toJSON({
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [log(tlog.publicKey, sha256(tlog.publicKey))],
    certificateAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
        uri: url,
        certChain: { certificates: [{ rawBytes: der(ca.rootCertificate) }] },
        validFor,
        operator: 'cairn-test',
      },
    ],
    ctlogs: [log(ctlog.publicKey, der(ctlog.logID))],
    timestampAuthorities: [
      {
        subject: { organization: 'sigstore.mock', commonName: 'tsa' },
        uri: url,
        certChain: { certificates: [{ rawBytes: der(tsa.intCertificate) }, { rawBytes: der(tsa.rootCertificate) }] },
        validFor,
        operator: 'cairn-test',
      },
    ],
  });

  return {
    url,
    fulcioUrl: url,
    rekorUrl: url,
    tsaUrl: url,
    trustedRoot,
    identityToken: (claims) => {
      const now = Math.floor(Date.now() / 1000);
      // Unsigned as far as anyone checks: the mock Fulcio only decodes it.
      return `${base64url({ alg: 'RS256', typ: 'JWT' })}.${base64url({ aud: 'sigstore', iat: now, exp: now + 600, ...claims })}.${Buffer.from('mock-signature').toString('base64url')}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
