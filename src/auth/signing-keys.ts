import {
  calculateJwkThumbprint,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JWK,
  type KeyLike,
} from 'jose';
import type { IdentityStore, SigningKeyRecord } from './identity-store';

const ALG = 'ES256';

interface LoadedKey {
  kid: string;
  createdAt: number;
  retiredAt?: number;
  /** Absent for a key held in an HSM (its row holds only `external:<uri>`). */
  privateKey?: KeyLike;
  publicKey: KeyLike;
  publicJwk: JWK;
}

/**
 * A token-signing key that never leaves an HSM (src/keys/hsm-signer.ts): raw r ‖ s ES256 signatures of
 * the JWS signing input, and the public key every replica verifies with.
 */
export interface ExternalTokenSigner {
  readonly publicKey: import('node:crypto').KeyObject;
  /** Names the key in its row, without any secret: the URI with the PIN hidden. */
  readonly label: string;
  sign(data: Buffer): Buffer;
}

/** What signs the next token: a key in memory (jose signs) or an external signer. */
export type TokenSigningKey = { kid: string; key: KeyLike } | { kid: string; external: ExternalTokenSigner };

const EXTERNAL = 'external:';

/**
 * The token signing keys, shared by the replicas through the identity store. The newest active key
 * signs; retired keys still verify until the tokens they signed have expired (`verifyWindowMs` after
 * retirement), then are deleted. Every replica re-reads the ring periodically, so a rotation on one is
 * followed by all within `refreshMs`.
 */
export class KeyRing {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  private externalKid: string | undefined;

  constructor(
    private readonly store: IdentityStore,
    private readonly verifyWindowMs: number,
    private readonly refreshMs = 30_000,
    /** An HSM key (auth.signingKey): it signs every token; keys in the database only verify until retired. */
    private readonly external?: ExternalTokenSigner,
  ) {}

  /** Loads the ring, creating the first key when there is none. */
  async init(): Promise<void> {
    await this.reload();
    if (this.external) {
      // The HSM key's public half in the shared ring, so every replica (and the JWKS) knows it; database
      // keys still active are retired and verify until the tokens they signed have expired.
      const publicJwk = await exportJWK(this.external.publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      this.externalKid = kid;
      if (!this.keys.some((k) => k.kid === kid))
        await this.store.addSigningKey({
          kid,
          alg: ALG,
          privatePem: `${EXTERNAL}${this.external.label}`,
          publicJwk: publicJwk as unknown as Record<string, unknown>,
          createdAt: Date.now(),
        });
      if (this.keys.some((k) => k.kid !== kid && !k.retiredAt))
        await this.store.retireSigningKeysExcept(kid, Date.now());
      await this.reload();
      return;
    }
    if (!this.keys.some((k) => !k.retiredAt)) {
      await this.store.addSigningKey(await newKey());
      await this.reload();
    }
  }

  /** Adds a new signing key and retires the others; returns its kid. */
  async rotate(): Promise<string> {
    const key = await newKey();
    await this.store.addSigningKey(key);
    await this.store.retireSigningKeysExcept(key.kid, Date.now());
    await this.reload();
    return key.kid;
  }

  private async reload(): Promise<void> {
    const now = Date.now();
    const records = await this.store.listSigningKeys();
    const keep: SigningKeyRecord[] = [];
    for (const r of records) {
      if (r.retiredAt && now - r.retiredAt > this.verifyWindowMs) await this.store.deleteSigningKey(r.kid);
      else keep.push(r);
    }
    this.keys = await Promise.all(
      keep.map(async (r) => ({
        kid: r.kid,
        createdAt: r.createdAt,
        retiredAt: r.retiredAt,
        ...(r.privatePem.startsWith(EXTERNAL) ? {} : { privateKey: await importPKCS8(r.privatePem, ALG) }),
        publicKey: (await importJWK(r.publicJwk as unknown as JWK, ALG)) as KeyLike,
        publicJwk: r.publicJwk as unknown as JWK,
      })),
    );
    this.loadedAt = now;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt < this.refreshMs) return;
    this.loading ??= this.reload().finally(() => (this.loading = undefined));
    await this.loading;
  }

  async signingKey(): Promise<TokenSigningKey> {
    if (this.external && this.externalKid) return { kid: this.externalKid, external: this.external };
    await this.fresh();
    const active = this.keys.filter((k) => !k.retiredAt && k.privateKey).sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!active)
      throw new Error(
        'no active token signing key in the database (is auth.signingKey an HSM key on another replica?)',
      );
    return { kid: active.kid, key: active.privateKey! };
  }

  /** The public key for a kid, reloading once if a replica rotated since. */
  async verificationKey(kid: string): Promise<KeyLike | undefined> {
    await this.fresh();
    let k = this.keys.find((x) => x.kid === kid);
    if (!k && Date.now() - this.loadedAt > 1000) {
      await this.reload();
      k = this.keys.find((x) => x.kid === kid);
    }
    return k?.publicKey;
  }

  /** The JWKS anyone can verify tokens with. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: this.keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: ALG, use: 'sig' })) };
  }
}

async function newKey(): Promise<Omit<SigningKeyRecord, 'retiredAt'>> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return {
    kid: await calculateJwkThumbprint(publicJwk),
    alg: ALG,
    privatePem: await exportPKCS8(privateKey),
    publicJwk: publicJwk as unknown as Record<string, unknown>,
    createdAt: Date.now(),
  };
}
