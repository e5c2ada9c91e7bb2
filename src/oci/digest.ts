import { createHash } from 'node:crypto';
import { OciError } from './errors';

/** The algorithms the registry accepts, with the hex length of their encoded part. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `algorithm:hex`, the canonical string form. */
  value: string;
}

// The grammar of the image spec, restricted to the registered algorithms, whose encoding is lower-case hex.
const DIGEST_SYNTAX = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Parses a digest, or undefined when it is not one this registry can verify. */
export function tryParseDigest(input: string): ParsedDigest | undefined {
  const m = DIGEST_SYNTAX.exec(input);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2]!;
  const len = (DIGEST_ALGORITHMS as Record<string, number>)[algorithm];
  if (len === undefined || hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return undefined;
  return { algorithm, hex, value: input };
}

/** Parses a digest or throws DIGEST_INVALID saying what is wrong with it. */
export function parseDigest(input: string): ParsedDigest {
  const d = tryParseDigest(input);
  if (d) return d;
  const m = DIGEST_SYNTAX.exec(input);
  if (m && !(m[1]! in DIGEST_ALGORITHMS)) {
    throw new OciError('DIGEST_INVALID', 'unsupported digest algorithm', {
      digest: input,
      supported: Object.keys(DIGEST_ALGORITHMS),
    });
  }
  throw new OciError('DIGEST_INVALID', 'invalid digest', {
    digest: input,
    expected: 'sha256:<64 lower-case hex> or sha512:<128 lower-case hex>',
  });
}

export function digestOf(data: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
