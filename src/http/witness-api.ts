import express from 'express';
import type { AuditLog } from '../audit/audit-log';
import { witnessVerifier } from '../audit/cosignature';
import type { Witness } from '../audit/witness';
import { OciError } from '../oci/errors';

/**
 * This registry as a witness (C2SP tlog-witness): `POST /witness/add-checkpoint` cosigns a checkpoint of
 * a log it witnesses when it is consistent with the last one it cosigned; `GET /witness/key` gives the
 * cosignature verifier key the log's operator configures. Public: a request proves itself by the log's
 * signature and its consistency proof, not by an account.
 */
export function witnessApi(log: AuditLog, witness: Witness | undefined): express.Router {
  const router = express.Router();
  router.get('/witness/key', (_req, res) => {
    if (!witness) throw new OciError('NOT_FOUND', 'this registry witnesses no log (witness.logs)', undefined);
    res.json({ name: log.origin, verifierKey: witnessVerifier(log.origin, log.publicKey), algorithm: 'Ed25519' });
  });
  router.post('/witness/add-checkpoint', express.text({ type: () => true, limit: '64kb' }), async (req, res) => {
    if (!witness) throw new OciError('NOT_FOUND', 'this registry witnesses no log (witness.logs)', undefined);
    const answer = await witness.addCheckpoint(typeof req.body === 'string' ? req.body : '');
    res.status(answer.status).type(answer.contentType).send(answer.body);
  });
  return router;
}
