import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../src/audit/merkle';
import { rawPublicKey, signCheckpoint } from '../../src/audit/checkpoint';
import {
  leafHash as browserLeafHash,
  openCheckpoint,
  verifyConsistency,
  verifyInclusion,
  type Bytes,
} from '../../ui/src/audit-proofs';

// The console's checks run in the browser on WebCrypto; Node has the same API, so they are held here
// against the registry's own tree and signer for every shape of tree up to 33 leaves.
const bytes = (b: Buffer): Bytes => new Uint8Array(b) as Bytes;

describe("the console's in-browser audit checks agree with the registry's log", () => {
  const leaves = Array.from({ length: 33 }, (_, i) => leafHash(Buffer.from(`{"seq":${i}}`)));

  it('hashes leaves as the log does', async () => {
    expect(Buffer.from(await browserLeafHash(bytes(Buffer.from('{"seq":0}')))).equals(leaves[0]!)).toBe(true);
  });

  it('accepts every inclusion proof of every tree size, and refuses a wrong leaf, index or root', async () => {
    for (let size = 1; size <= leaves.length; size++) {
      const root = bytes(rootOf(leaves, 0, size));
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(leaves.slice(0, size), i).map(bytes);
        expect(await verifyInclusion(bytes(leaves[i]!), i, size, proof, root)).toBe(true);
        if (size > 1) {
          expect(await verifyInclusion(bytes(leaves[(i + 1) % size]!), i, size, proof, root)).toBe(false);
          expect(await verifyInclusion(bytes(leaves[i]!), (i + 1) % size, size, proof, root)).toBe(false);
        }
        expect(await verifyInclusion(bytes(leaves[i]!), i, size, proof, bytes(randomBytes(32)))).toBe(false);
      }
    }
  });

  it('accepts every consistency proof between two sizes, and refuses a rewritten history', async () => {
    const forged = [...leaves];
    forged[2] = leafHash(Buffer.from('rewritten'));
    for (let n = 1; n <= 20; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(leaves.slice(0, n), m).map(bytes);
        const r1 = bytes(rootOf(leaves, 0, m));
        const r2 = bytes(rootOf(leaves, 0, n));
        expect(await verifyConsistency(m, n, proof, r1, r2)).toBe(true);
        if (m > 2 && m < n) expect(await verifyConsistency(m, n, proof, bytes(rootOf(forged, 0, m)), r2)).toBe(false);
      }
    }
  });

  it('checks a checkpoint signed by the registry, and refuses one changed or signed by another key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const note = signCheckpoint({ origin: 'cairn', size: 7, root: rootOf(leaves, 0, 7) }, 'cairn', privateKey);
    const pub = bytes(rawPublicKey(publicKey));
    const cp = await openCheckpoint(note, 'cairn', pub);
    expect(cp.size).toBe(7);
    expect(Buffer.from(cp.root).equals(rootOf(leaves, 0, 7))).toBe(true);
    await expect(openCheckpoint(note.replace('\n7\n', '\n8\n'), 'cairn', pub)).rejects.toThrow(/does not verify/);
    await expect(openCheckpoint(note, 'cairn', bytes(rawPublicKey(other.publicKey)))).rejects.toThrow(/no signature/);
  });
});
