import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { verifyReceipt, RECEIPT_TYPE } from '../../src/signing/receipts';
import { verifyConsistency } from '../../src/audit/merkle';

type Json = Record<string, any>;

describe('registry receipts: a signed statement of every manifest push, with its place in the audit log', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'postgres', sessions: 'memory' });
  });
  afterAll(async () => reg.close());

  it('attaches a receipt that verifies offline with the registry key, and whose inclusion proof anchors in a signed checkpoint', async () => {
    const m = await pushModel(reg.url, 'rcpt/m', 'v1', {}, { 'User-Agent': 'receipt-test' });
    expect(m.status).toBe(201);
    // Signed in the background, moments after the push: `?wait=` holds the answer until it is there.
    const receipts = (await (await fetch(`${reg.url}/v2/rcpt/m/_cairn/receipts/${m.digest}?wait=10`)).json()) as Json;
    const receiptDigest = receipts.manifests[0]?.digest as string;
    expect(receiptDigest).toMatch(/^sha256:/);
    expect(receipts.manifests).toEqual([
      expect.objectContaining({ digest: receiptDigest, artifactType: RECEIPT_TYPE }),
    ]);
    // The OCI referrers list is what clients pushed: the receipt is not in it (audit.receiptsAsReferrers: false).
    expect(((await (await fetch(`${reg.url}/v2/rcpt/m/referrers/${m.digest}`)).json()) as Json).manifests).toEqual([]);
    expect(
      (
        (await (
          await fetch(`${reg.url}/v2/rcpt/m/referrers/${m.digest}?artifactType=${encodeURIComponent(RECEIPT_TYPE)}`)
        ).json()) as Json
      ).manifests,
    ).toEqual([]);
    const manifest = (await (await fetch(`${reg.url}/v2/rcpt/m/manifests/${receiptDigest}`)).json()) as Json;
    expect(manifest.subject.digest).toBe(m.digest);
    const bundle = (await (await fetch(`${reg.url}/v2/rcpt/m/blobs/${manifest.layers[0].digest}`)).json()) as Json;

    const pem = await (await fetch(`${reg.url}/v2/_cairn/receipts/key`)).text();
    const key = createPublicKey(pem);
    const check = verifyReceipt(bundle, m.digest, key);
    expect(check.verified).toBe(true);
    expect(check.receipt).toMatchObject({
      repository: 'rcpt/m',
      tag: 'v1',
      pushedBy: 'auth-disabled',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
    });
    const push = (await reg.registry.audit.search({ digest: m.digest })).find((e) => e.type === 'manifest.push')!;
    expect(check.receipt!.auditLog.index).toBe(push.seq);

    // Anchored: a later signed checkpoint is consistent with the root the receipt names.
    await reg.registry.audit.checkpoint();
    const cp = (await reg.registry.audit.latestCheckpoint())!;
    const rootLine = cp.note.split('\n')[2]!;
    const proof = await reg.registry.audit.consistencyProof(check.receipt!.auditLog.treeSize, cp.size);
    expect(
      verifyConsistency(
        check.receipt!.auditLog.treeSize,
        cp.size,
        proof,
        Buffer.from(check.receipt!.auditLog.rootHash, 'hex'),
        Buffer.from(rootLine, 'base64'),
      ),
    ).toBe(true);

    // Not about another artifact; not with another key; not once altered.
    expect(verifyReceipt(bundle, `sha256:${'0'.repeat(64)}`, key).verified).toBe(false);
    expect(verifyReceipt(bundle, m.digest, generateKeyPairSync('ed25519').publicKey).verified).toBe(false);
    const altered = JSON.parse(JSON.stringify(bundle));
    const st = JSON.parse(Buffer.from(altered.dsseEnvelope.payload, 'base64').toString());
    st.predicate.pushedBy = 'user:someone-else';
    altered.dsseEnvelope.payload = Buffer.from(JSON.stringify(st)).toString('base64');
    expect(verifyReceipt(altered, m.digest, key)).toMatchObject({ verified: false });
  });

  it('issues none for referrers, keeps receipts out of search and quotas, and stays out of lineage', async () => {
    const m = await pushModel(reg.url, 'rcpt/n', 'v1');
    const all = (await (await fetch(`${reg.url}/v2/rcpt/n/_cairn/receipts/${m.digest}?wait=10`)).json()) as Json;
    await reg.registry.services.receipts!.settled();
    expect(all.manifests.map((x: Json) => x.artifactType)).toEqual([RECEIPT_TYPE]);
    // The receipt itself has no receipt.
    const receipt = all.manifests[0].digest;
    expect(((await (await fetch(`${reg.url}/v2/rcpt/n/_cairn/receipts/${receipt}`)).json()) as Json).manifests).toEqual(
      [],
    );
    expect(
      ((await (await fetch(`${reg.url}/v2/_cairn/search?repository=rcpt/n`)).json()) as Json).artifacts.map(
        (a: Json) => a.kind,
      ),
    ).toEqual(['model']);
    expect(
      ((await (await fetch(`${reg.url}/v2/_cairn/search?repository=rcpt/n&kind=receipt`)).json()) as Json).artifacts,
    ).toHaveLength(1);
    expect(
      ((await (await fetch(`${reg.url}/v2/rcpt/n/_cairn/lineage/v1?direction=downstream`)).json()) as Json).downstream
        .edges,
    ).toEqual([]);
  });

  it('lists receipts among the referrers too when audit.receiptsAsReferrers is on (opt-in)', async () => {
    const opted = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { audit: { receiptsAsReferrers: true } },
    );
    try {
      const m = await pushModel(opted.url, 'rcpt/o', 'v1');
      const receipt = (
        (await (await fetch(`${opted.url}/v2/rcpt/o/_cairn/receipts/${m.digest}?wait=10`)).json()) as Json
      ).manifests[0].digest;
      const listed = (await (await fetch(`${opted.url}/v2/rcpt/o/referrers/${m.digest}`)).json()) as Json;
      expect(listed.manifests).toEqual([expect.objectContaining({ digest: receipt, artifactType: RECEIPT_TYPE })]);
    } finally {
      await opted.close();
    }
  });

  it('survives a receipt that fails halfway (the database went away): the push stands, nothing is left unhandled, the receipt follows once the database is back', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { audit, services } = reg.registry;
    const append = audit.append.bind(audit);
    const putIssued = services.catalog.putIssued.bind(services.catalog);
    // The receipt's bundle is stored, then its batch cannot be written to the catalog and the log fails too.
    audit.append = (event) =>
      (event.detail as { upload?: string } | undefined)?.upload === 'receipt'
        ? Promise.reject(new Error('Connection terminated unexpectedly'))
        : append(event);
    services.catalog.putIssued = (entries) =>
      entries.some((e) => e.manifest.artifactType === RECEIPT_TYPE)
        ? Promise.reject(new Error('Connection terminated unexpectedly'))
        : putIssued(entries);
    let digest: string;
    try {
      const m = await pushModel(reg.url, 'rcpt/fail', 'v1');
      expect(m.status).toBe(201);
      digest = m.digest;
      await services.receipts!.settled();
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
      const none = (await (await fetch(`${reg.url}/v2/rcpt/fail/_cairn/receipts/${digest}`)).json()) as Json;
      expect(none.manifests).toEqual([]);
    } finally {
      audit.append = append;
      services.catalog.putIssued = putIssued;
      process.off('unhandledRejection', onUnhandled);
    }
    // The issuer's place in the log did not move past the failed receipt: the next pass issues it, once.
    await services.receipts!.settled();
    const after = (await (await fetch(`${reg.url}/v2/rcpt/fail/_cairn/receipts/${digest}`)).json()) as Json;
    expect(after.manifests).toHaveLength(1);
  });
});
