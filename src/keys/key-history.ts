import { createPublicKey, verify } from 'node:crypto';

/**
 * The history of the key that signs a registry's checkpoints and receipts, as its log's
 * `audit.key-rotated` events tell it (src/audit/key-rotation.ts writes them): each rotation a statement
 * signed by both the previous and the next key. Here, below every layer, because the audit verifier and
 * the client that checks receipts both follow it.
 */
export const KEY_ROTATED = 'audit.key-rotated';

export interface KeyRotation {
  previous: string;
  next: string;
  statement: string;
  signatureByPrevious: string;
  signatureByNext: string;
}

export function rotationStatement(origin: string, previous: string, next: string, size: number): string {
  return `cairn audit key rotation\n${origin}\nprevious ${previous}\nnext ${next}\nsize ${size}\n`;
}

/** The Ed25519 public key in a verifier key string (`name+keyid+base64(0x01 ‖ key)`). */
export function publicKeyOf(verifier: string): Buffer | undefined {
  // The key is standard base64, which may itself hold '+': everything after the second separator.
  const m = /^[^+]+\+[0-9a-f]{8}\+(.+)$/.exec(verifier);
  const raw = Buffer.from(m?.[1] ?? '', 'base64');
  return raw.length === 33 && raw[0] === 1 ? raw.subarray(1) : undefined;
}

function verifies(verifier: string, statement: string, signature: string): boolean {
  const key = publicKeyOf(verifier);
  if (!key) return false;
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.toString('base64url') }, format: 'jwk' });
  return verify(null, Buffer.from(statement), pub, Buffer.from(signature, 'base64'));
}

export interface KeyHistory {
  /** The verifier keys in the order they signed, the first one first. */
  keys: string[];
  /** The log position of each rotation: keys[i + 1] signs checkpoints larger than rotations[i]. */
  rotations: number[];
  problems: string[];
}

/**
 * The chain of keys the rotation events describe, each link checked: both signatures over the
 * statement, the statement naming the keys the event claims, and each rotation starting from the key
 * the previous one handed over to. With no rotation, the history is `initial` alone.
 */
export function keyHistory(
  events: { seq: number; type: string; detail?: Record<string, unknown> }[],
  initial: string,
): KeyHistory {
  const rotations = events.filter((e) => e.type === KEY_ROTATED).sort((a, b) => a.seq - b.seq);
  const problems: string[] = [];
  const first = rotations[0]?.detail as unknown as KeyRotation | undefined;
  const keys = [first ? first.previous : initial];
  const at: number[] = [];
  for (const e of rotations) {
    const r = e.detail as unknown as KeyRotation;
    const lines = r.statement?.split('\n') ?? [];
    const origin = lines[1] ?? '';
    // The size the log had when the rotation was signed: the event itself lands at or after it.
    const size = Number(/^size (\d+)$/.exec(lines[4] ?? '')?.[1] ?? NaN);
    if (r.previous !== keys.at(-1))
      problems.push(`key rotation at entry ${e.seq} starts from a key that was not signing`);
    if (r.statement !== rotationStatement(origin, r.previous, r.next, size) || !(size <= e.seq))
      problems.push(`key rotation at entry ${e.seq}: its statement does not name its keys and position`);
    if (!verifies(r.previous, r.statement, r.signatureByPrevious))
      problems.push(`key rotation at entry ${e.seq}: not signed by the previous key`);
    if (!verifies(r.next, r.statement, r.signatureByNext))
      problems.push(`key rotation at entry ${e.seq}: not signed by the next key`);
    keys.push(r.next);
    at.push(e.seq);
  }
  return { keys, rotations: at, problems };
}

/** The verifier key that must have signed a checkpoint of `size` entries. */
export function keyForSize(history: KeyHistory, size: number): string {
  let i = 0;
  while (i < history.rotations.length && history.rotations[i]! < size) i++;
  return history.keys[i]!;
}
