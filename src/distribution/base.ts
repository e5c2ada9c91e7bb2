import type { ServerResponse } from 'node:http';
import { sendJson } from '../http/respond';

/** GET /v2/: the version check every client makes first. */
export function getBase(res: ServerResponse): void {
  sendJson(res, 200, {});
}
