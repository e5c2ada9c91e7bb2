/**
 * Checking the audit log in the browser with WebCrypto alone: the checkpoint's Ed25519 signature (a C2SP
 * signed note), an event's leaf hash, its inclusion proof and the consistency of two checkpoints
 * (RFC 9162 2.1.3.2 and 2.1.4.2). Nothing here trusts the registry's own verdict: it gets bytes and
 * proofs and decides.
 */

const enc = new TextEncoder();

/** Bytes in an ordinary ArrayBuffer: what WebCrypto takes. */
export type Bytes = Uint8Array<ArrayBuffer>;

export const fromBase64 = (s: string): Bytes => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
export const toBase64 = (b: Bytes): string => btoa(String.fromCharCode(...b));
const hex = (b: Bytes) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

async function sha256(...parts: Bytes[]): Promise<Bytes> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

const equal = (a: Bytes, b: Bytes) => a.length === b.length && a.every((x, i) => x === b[i]);

export const leafHash = (leaf: Bytes) => sha256(Uint8Array.of(0), leaf);
const nodeHash = (l: Bytes, r: Bytes) => sha256(Uint8Array.of(1), l, r);

export interface Checkpoint {
  origin: string;
  size: number;
  root: Bytes;
}

/** The key id of a note signer: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4], as Go's sumdb/note computes it. */
async function keyId(name: string, publicKey: Bytes): Promise<Bytes> {
  return (await sha256(enc.encode(`${name}\n`), Uint8Array.of(1), publicKey)).slice(0, 4);
}

/** Parses a signed checkpoint and checks the signature of `name` with `publicKey`; throws why it fails. */
export async function openCheckpoint(note: string, name: string, publicKey: Bytes): Promise<Checkpoint> {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('not a signed note');
  const body = note.slice(0, split + 1);
  const lines = body.split('\n');
  if (lines.length !== 4 || !/^\d+$/.test(lines[1]!)) throw new Error('not a checkpoint (origin, size, root)');
  if (lines[0] !== name) throw new Error(`the checkpoint is of log "${lines[0]}", not "${name}"`);
  const root = fromBase64(lines[2]!);
  if (root.length !== 32) throw new Error('the root hash is not 32 bytes');
  const id = await keyId(name, publicKey);
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  for (const line of note.slice(split + 2).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const raw = fromBase64(m[2]!);
    if (raw.length !== 68 || !equal(raw.slice(0, 4), id)) continue;
    if (!(await crypto.subtle.verify({ name: 'Ed25519' }, key, raw.slice(4), enc.encode(body))))
      throw new Error('the signature does not verify');
    return { origin: lines[0], size: Number(lines[1]), root };
  }
  throw new Error(`no signature by ${name} with key ${hex(id)}`);
}

/** RFC 9162 2.1.3.2. */
export async function verifyInclusion(
  leaf: Bytes,
  index: number,
  size: number,
  proof: Bytes[],
  root: Bytes,
): Promise<boolean> {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else r = await nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(r, root);
}

/** RFC 9162 2.1.4.2: is (size1, root1) a prefix of (size2, root2)? */
export async function verifyConsistency(
  size1: number,
  size2: number,
  proof: Bytes[],
  root1: Bytes,
  root2: Bytes,
): Promise<boolean> {
  if (size1 > size2 || size1 < 0) return false;
  if (size1 === size2) return proof.length === 0 && equal(root1, root2);
  if (size1 === 0) return proof.length === 0;
  const path = (size1 & (size1 - 1)) === 0 ? [root1, ...proof] : proof;
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else sr = await nodeHash(sr, c);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equal(fr, root1) && equal(sr, root2);
}

export { hex };
