import { createHash, createPublicKey, verify } from 'node:crypto';
import type { Ed25519Signer } from '../keys/signer';
import { CheckpointError, rawPublicKey } from './checkpoint';

/**
 * Witness cosignatures in the C2SP formats (tlog-cosignature, tlog-witness): a witness signs
 * `cosignature/v1\ntime <seconds>\n<checkpoint body>` with Ed25519 and adds the note signature line
 * `— <witness name> <base64(key id ‖ 8-byte time ‖ signature)>`, the key id being the first 4 bytes of
 * SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key).
 */
const COSIGNATURE_V1 = 0x04;
const DASH = '\u2014';

export function cosignatureKeyId(name: string, publicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([COSIGNATURE_V1]), publicKey]))
    .digest()
    .subarray(0, 4);
}

/** `<name>+<hex key id>+<base64(0x04 ‖ public key)>`: how a log operator names a witness it trusts. */
export function witnessVerifier(name: string, publicKey: Buffer): string {
  const key = Buffer.concat([Buffer.from([COSIGNATURE_V1]), publicKey]).toString('base64');
  return `${name}+${cosignatureKeyId(name, publicKey).toString('hex')}+${key}`;
}

/** Name and key of a verifier string of either kind (0x01 log key, 0x04 witness key). */
export function parseVerifierKey(v: string, type: 0x01 | 0x04): { name: string; publicKey: Buffer } {
  // name+keyid+base64key, where the base64 key may itself contain '+'.
  const m = /^([^+]+)\+[0-9a-f]{8}\+(.+)$/.exec(v.trim());
  const raw = Buffer.from(m?.[2] ?? '', 'base64');
  if (!m || raw.length !== 33 || raw[0] !== type)
    throw new CheckpointError(`not a ${type === 1 ? 'log' : 'witness'} verifier key (name+keyid+base64key): ${v}`);
  return { name: m[1]!, publicKey: raw.subarray(1) };
}

function message(body: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${body}`);
}

/** The checkpoint body of a signed note: everything up to the blank line. */
export function noteBody(note: string): string {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new CheckpointError('not a signed note (no blank line before the signatures)');
  return note.slice(0, split + 1);
}

/** A cosignature line over `body` by this witness, at `time` (seconds). */
export function cosign(body: string, name: string, signer: Ed25519Signer, time: number): string {
  const pub = rawPublicKey(signer.publicKey);
  const t = Buffer.alloc(8);
  t.writeBigUInt64BE(BigInt(time));
  const sig = signer.sign(message(body, time));
  return `${DASH} ${name} ${Buffer.concat([cosignatureKeyId(name, pub), t, sig]).toString('base64')}`;
}

/** The time of a valid cosignature by `name` with `publicKey` among the note's lines; undefined when none. */
export function cosignedAt(note: string, name: string, publicKey: Buffer): number | undefined {
  const body = noteBody(note);
  const id = cosignatureKeyId(name, publicKey);
  const key = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') },
    format: 'jwk',
  });
  for (const line of note.slice(body.length + 1).split('\n')) {
    const m = new RegExp(`^${DASH} (\\S+) (\\S+)$`).exec(line);
    if (!m || m[1] !== name) continue;
    const raw = Buffer.from(m[2]!, 'base64');
    if (raw.length !== 76 || !raw.subarray(0, 4).equals(id)) continue;
    const time = Number(raw.readBigUInt64BE(4));
    if (verify(null, message(body, time), key, raw.subarray(12))) return time;
  }
  return undefined;
}

/** The add-checkpoint request of C2SP tlog-witness: `old <size>`, the consistency proof, a blank line, the note. */
export interface AddCheckpoint {
  oldSize: number;
  proof: Buffer[];
  note: string;
}

export function formatAddCheckpoint(r: AddCheckpoint): string {
  return `old ${r.oldSize}\n${r.proof.map((h) => `${h.toString('base64')}\n`).join('')}\n${r.note}`;
}

export function parseAddCheckpoint(text: string): AddCheckpoint {
  const split = text.indexOf('\n\n');
  if (split < 0) throw new CheckpointError('no blank line between the proof and the checkpoint');
  const head = text.slice(0, split).split('\n');
  const m = /^old (\d+)$/.exec(head[0] ?? '');
  if (!m) throw new CheckpointError('the request must start with "old <size>"');
  const proof = head.slice(1).map((l) => {
    const h = Buffer.from(l, 'base64');
    if (h.length !== 32 || h.toString('base64') !== l) throw new CheckpointError('a proof line is not a base64 hash');
    return h;
  });
  if (proof.length > 64) throw new CheckpointError('the proof is too long');
  return { oldSize: Number(m[1]), proof, note: text.slice(split + 2) };
}
