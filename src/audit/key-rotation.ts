import type { Ed25519Signer } from '../keys/signer';
import { KEY_ROTATED, rotationStatement, type KeyRotation } from '../keys/key-history';
import { rawPublicKey, verifierKey } from './checkpoint';
import type { NewEvent } from './events';

/**
 * Rotating the key that signs checkpoints and receipts is itself an event of the log, `audit.key-rotated`,
 * holding a statement (origin, previous and next verifier keys, the log size when it was signed) signed
 * by both keys: the old one hands over, the new one accepts. The log's events, protected by its own hash
 * tree, are the key history (src/keys/key-history.ts): checkpoints up to the rotation's position are signed
 * by the previous key, later ones by the next, and everything signed before stays verifiable.
 */
export { KEY_ROTATED };

/** The event recording a rotation from `from` to `to`, signed by both. */
export function rotationEvent(
  origin: string,
  from: Ed25519Signer,
  to: Ed25519Signer,
  size: number,
  identity: string,
): NewEvent {
  const previous = verifierKey(origin, rawPublicKey(from.publicKey));
  const next = verifierKey(origin, rawPublicKey(to.publicKey));
  const statement = rotationStatement(origin, previous, next, size);
  const detail: KeyRotation = {
    previous,
    next,
    statement,
    signatureByPrevious: from.sign(Buffer.from(statement)).toString('base64'),
    signatureByNext: to.sign(Buffer.from(statement)).toString('base64'),
  };
  return { type: KEY_ROTATED, identity, action: 'admin', decision: 'allow', detail: { ...detail } };
}
