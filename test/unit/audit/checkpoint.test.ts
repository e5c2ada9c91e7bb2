import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import {
  CheckpointError,
  keyId,
  openCheckpoint,
  rawPublicKey,
  signCheckpoint,
  verifierKey,
} from '../../../src/audit/checkpoint';
import { CompactRange } from '../../../src/audit/compact-range';
import { leafHash, rootOf } from '../../../src/audit/merkle';

describe('signed checkpoints (C2SP tlog-checkpoint in a signed note)', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pub = rawPublicKey(createPublicKey(privateKey));
  const root = createHash('sha256').update('root').digest();

  it('has the exact text format and a key id computed from the definition', () => {
    const note = signCheckpoint({ origin: 'cairn.example/audit', size: 42, root }, 'cairn.example/audit', privateKey);
    const [body, sigs] = note.split('\n\n');
    expect(body).toBe(`cairn.example/audit\n42\n${root.toString('base64')}`);
    expect(sigs).toMatch(/^\u2014 cairn\.example\/audit [A-Za-z0-9+/]+=*\n$/);
    const raw = Buffer.from(sigs!.trim().split(' ')[2]!, 'base64');
    const id = createHash('sha256')
      .update(Buffer.concat([Buffer.from('cairn.example/audit\n\x01', 'latin1'), pub]))
      .digest()
      .subarray(0, 4);
    expect(raw.subarray(0, 4).equals(id)).toBe(true);
    expect(keyId('cairn.example/audit', pub).equals(id)).toBe(true);
    expect(verifierKey('cairn.example/audit', pub)).toBe(
      `cairn.example/audit+${id.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`,
    );
    expect(openCheckpoint(note, 'cairn.example/audit', pub)).toEqual({ origin: 'cairn.example/audit', size: 42, root });
  });

  it('refuses an altered size or root, another key, and malformed notes', () => {
    const note = signCheckpoint({ origin: 'o', size: 7, root }, 'o', privateKey);
    expect(() => openCheckpoint(note.replace('\n7\n', '\n8\n'), 'o', pub)).toThrow(CheckpointError);
    const otherRoot = createHash('sha256').update('other').digest().toString('base64');
    expect(() => openCheckpoint(note.replace(root.toString('base64'), otherRoot), 'o', pub)).toThrow(/does not verify/);
    const other = rawPublicKey(createPublicKey(generateKeyPairSync('ed25519').privateKey));
    expect(() => openCheckpoint(note, 'o', other)).toThrow(/no signature/);
    expect(() => openCheckpoint('garbage', 'o', pub)).toThrow(CheckpointError);
    expect(() => openCheckpoint('o\nx\ny\n\n\u2014 o AAAA\n', 'o', pub)).toThrow(CheckpointError);
  });

  it('compact range roots equal the RFC 6962 roots at every size', () => {
    const r = new CompactRange();
    const leaves = [];
    for (let i = 0; i < 70; i++) {
      const h = leafHash(Buffer.from(`e${i}`));
      leaves.push(h);
      r.append(h);
      expect(r.root().equals(rootOf(leaves))).toBe(true);
    }
  });
});
