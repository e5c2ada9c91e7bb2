import { generateKeyPairSync } from 'node:crypto';
import { rawPublicKey, verifierKey } from '../../src/audit/checkpoint';
import { publicKeyOf } from '../../src/keys/key-history';

describe('verifier keys', () => {
  it('give back their public key even when its base64 holds a "+" (the separator)', () => {
    let withPlus = 0;
    for (let i = 0; i < 64; i++) {
      const pub = rawPublicKey(generateKeyPairSync('ed25519').publicKey);
      const v = verifierKey('cairn.example/audit', pub);
      if (v.split('+').length > 3) withPlus++;
      expect(publicKeyOf(v)).toEqual(pub);
    }
    // About half of all keys: the case the old split('+') parsing refused.
    expect(withPlus).toBeGreaterThan(0);
  });
});
