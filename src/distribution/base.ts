import type { Request, Response } from 'express';

/** GET /v2/: the version check every client makes first. */
export function getBase(_req: Request, res: Response): void {
  res.status(200).type('application/json').send('{}');
}
