import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { AuditLog } from '../audit/audit-log';
import { OciError } from '../oci/errors';
import type { AccessGate } from './access-gate';
import type { RequestContext } from './context';

const MAX_ENTRIES = 1000;

function int(req: express.Request, name: string, fallback?: number): number {
  const raw = req.query[name];
  if (raw === undefined && fallback !== undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw))
    throw new OciError('PARAMETER_INVALID', `${name} must be a whole number`, { [name]: raw ?? null });
  return Number(raw);
}

/**
 * The audit log's read API, for auditors and for anyone verifying offline: the latest signed checkpoint,
 * entries by range, inclusion and consistency proofs, and events by repository, digest or identity.
 * Access follows policy (the `read-audit` action on the registry), unless authentication is off.
 */
export function auditApi(
  log: AuditLog,
  gate: AccessGate,
  ctxOf: (res: ServerResponse) => RequestContext,
): express.Router {
  const router = express.Router();
  const guard = (req: IncomingMessage, res: ServerResponse) =>
    gate.enter(req, ctxOf(res), { kind: 'registry', action: 'read-audit' });

  router.get('/audit/checkpoint', async (req, res) => {
    await guard(req, res);
    const c = await log.latestCheckpoint();
    if (!c) throw new OciError('NOT_FOUND', 'no checkpoint has been signed yet', undefined);
    // Witnesses' cosignatures are further signature lines of the same note.
    const cosigned = (await log.cosignatures(c.size)).map((l) => `${l}\n`).join('');
    res.type('text/plain; charset=utf-8').send(`${c.note}${cosigned}`);
  });

  // Public: whoever verifies a checkpoint offline needs the key first, with or without an account.
  router.get('/audit/key', (_req, res) => {
    res.json({
      origin: log.origin,
      verifierKey: log.verifier,
      publicKey: log.publicKey.toString('base64'),
      algorithm: 'Ed25519',
    });
  });

  // Public like the key: the chain of keys that signed this log, each rotation signed by both its keys.
  router.get('/audit/keys', async (_req, res) => {
    const rotations = await log.keyRotations();
    res.json({
      origin: log.origin,
      current: log.verifier,
      rotations: rotations.map((e) => ({ seq: e.seq, time: e.time, ...e.detail })),
    });
  });

  router.get('/audit/entries', async (req, res) => {
    await guard(req, res);
    const start = int(req, 'start', 0);
    const size = await log.size();
    const end = Math.min(int(req, 'end', Math.min(size, start + MAX_ENTRIES)), start + MAX_ENTRIES, size);
    if (end < start) throw new OciError('PARAMETER_INVALID', 'end is before start', { start, end });
    const entries = await log.entries(start, end);
    res.json({
      treeSize: size,
      entries: entries.map((e) => ({
        index: e.seq,
        leafHash: e.leafHash.toString('base64'),
        event: JSON.parse(e.event),
        canonical: e.event,
      })),
    });
  });

  router.get('/audit/proof/inclusion', async (req, res) => {
    await guard(req, res);
    const index = int(req, 'index');
    const size = int(req, 'size');
    if (index >= size) throw new OciError('PARAMETER_INVALID', 'index must be below the tree size', { index, size });
    if (size > (await log.size())) throw new OciError('PARAMETER_INVALID', 'the log is smaller than that', { size });
    const [entry] = await log.entries(index, index + 1);
    res.json({
      index,
      treeSize: size,
      leafHash: entry!.leafHash.toString('base64'),
      proof: (await log.inclusionProof(index, size)).map((h) => h.toString('base64')),
    });
  });

  router.get('/audit/proof/consistency', async (req, res) => {
    await guard(req, res);
    const from = int(req, 'from');
    const to = int(req, 'to');
    if (from > to) throw new OciError('PARAMETER_INVALID', 'from must not be after to', { from, to });
    if (to > (await log.size())) throw new OciError('PARAMETER_INVALID', 'the log is smaller than that', { to });
    res.json({ from, to, proof: (await log.consistencyProof(from, to)).map((h) => h.toString('base64')) });
  });

  router.get('/audit/events', async (req, res) => {
    await guard(req, res);
    const q = (k: string) =>
      typeof req.query[k] === 'string' && req.query[k] !== '' ? (req.query[k] as string) : undefined;
    const time = (k: string) => {
      const v = q(k);
      if (v === undefined) return undefined;
      const t = Date.parse(v);
      if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t))
        throw new OciError('PARAMETER_INVALID', `${k} must be an RFC 3339 time`, { [k]: v.slice(0, 100) });
      return t;
    };
    const order = q('order');
    if (order !== undefined && order !== 'newest' && order !== 'oldest')
      throw new OciError('PARAMETER_INVALID', 'order is newest or oldest', { order: order.slice(0, 100) });
    const filter = {
      repository: q('repository'),
      digest: q('digest'),
      identity: q('identity'),
      since: time('since'),
      until: time('until'),
    };
    // The whole log in one answer would be a scan: a key, a time range or the newest page bounds it.
    if (!filter.repository && !filter.digest && !filter.identity && !filter.since && order !== 'newest')
      throw new OciError('PARAMETER_INVALID', 'give repository, digest, identity, since, or order=newest', undefined);
    const limit = Math.min(int(req, 'n', MAX_ENTRIES), MAX_ENTRIES);
    await log.flush();
    res.json({ events: await log.search({ ...filter, newest: order === 'newest', limit }) });
  });
  return router;
}
