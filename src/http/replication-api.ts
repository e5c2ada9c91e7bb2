import type { ServerResponse } from 'node:http';
import express from 'express';
import type { AccessGate } from './access-gate';
import type { RequestContext } from './context';

/**
 * Replication status for operators and monitoring: each target's position, lag and last error
 * (`cairn replication status` prints the same from the database). The `admin` action on the registry.
 */
export function replicationApi(
  status: () => Promise<unknown[]>,
  gate: AccessGate,
  ctxOf: (res: ServerResponse) => RequestContext,
): express.Router {
  const router = express.Router();
  router.get('/admin/replication', async (req, res) => {
    const ctx = ctxOf(res);
    ctx.route = 'admin';
    await gate.enter(req, ctx, { kind: 'registry', action: 'admin' });
    res.json({ targets: await status() });
  });
  return router;
}
