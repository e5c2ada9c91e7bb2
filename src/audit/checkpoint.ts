import { createHash, createPrivateKey, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { keyObjectSigner, type Ed25519Signer } from '../keys/signer';

/**
 * Checkpoints in the C2SP formats: a tlog-checkpoint body (origin, tree size, base64 root hash) in a
 * signed note (C2SP signed-note) with an Ed25519 signature line `— <name> <base64(key id ‖ signature)>`,
 * the key id being the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

const ED25519 = 0x01;
const DASH = '\u2014';

export function checkpointBody(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${c.root.toString('base64')}\n`;
}

export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

export function keyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([ED25519]), publicKey]))
    .digest()
    .subarray(0, 4);
}

/** The note verifier key string: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, as Go's note package prints it. */
export function verifierKey(name: string, publicKey: Buffer): string {
  return `${name}+${keyId(name, publicKey).toString('hex')}+${Buffer.concat([Buffer.from([ED25519]), publicKey]).toString('base64')}`;
}

export function signCheckpoint(c: Checkpoint, name: string, key: KeyObject | Ed25519Signer): string {
  const body = checkpointBody(c);
  const signer = 'sign' in key ? key : keyObjectSigner(key);
  const pub = rawPublicKey(signer.publicKey);
  const sig = signer.sign(Buffer.from(body));
  return `${body}\n${DASH} ${name} ${Buffer.concat([keyId(name, pub), sig]).toString('base64')}\n`;
}

export class CheckpointError extends Error {}

/** Parses a signed checkpoint and checks its signature by `name` with `publicKey`; throws CheckpointError. */
export function openCheckpoint(note: string, name: string, publicKey: Buffer): Checkpoint {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new CheckpointError('not a signed note (no blank line before the signatures)');
  const body = note.slice(0, split + 1);
  const lines = body.split('\n');
  if (lines.length !== 4 || !/^\d+$/.test(lines[1]!) || !lines[0])
    throw new CheckpointError('not a checkpoint body (origin, size, root)');
  const root = Buffer.from(lines[2]!, 'base64');
  if (root.length !== 32 || root.toString('base64') !== lines[2])
    throw new CheckpointError('root hash is not 32 bytes of base64');
  const id = keyId(name, publicKey);
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') },
    format: 'jwk',
  });
  for (const line of note
    .slice(split + 2)
    .split('\n')
    .filter(Boolean)) {
    const m = new RegExp(`^${DASH} (\\S+) (\\S+)$`).exec(line);
    if (!m || m[1] !== name) continue;
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length !== 68 || !raw.subarray(0, 4).equals(id)) continue;
    if (verify(null, Buffer.from(body), key, raw.subarray(4)))
      return { origin: lines[0], size: Number(lines[1]), root };
    throw new CheckpointError('checkpoint signature does not verify');
  }
  throw new CheckpointError(`no signature by ${name} with this key`);
}

export function loadPrivateKey(pem: string): KeyObject {
  const k = createPrivateKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new CheckpointError('the audit signing key must be Ed25519');
  return k;
}

/** Whether a signed note carries a signature line with this key id (whose signature is checked elsewhere). */
export function signedBy(note: string, id: Buffer): boolean {
  const split = note.indexOf('\n\n');
  for (const line of note.slice(split + 2).split('\n')) {
    const sig = Buffer.from(line.split(' ').at(-1) ?? '', 'base64');
    if (line.startsWith(DASH) && sig.length >= 4 && sig.subarray(0, 4).equals(id)) return true;
  }
  return false;
}
