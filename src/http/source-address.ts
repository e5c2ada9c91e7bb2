import type { IncomingMessage } from 'node:http';

/** The client's address: the socket's, or the first X-Forwarded-For hop when a trusted proxy sets it. */
export function sourceAddress(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first && /^[0-9a-fA-F:.]{2,45}$/.test(first)) return first;
  }
  return req.socket.remoteAddress ?? '0.0.0.0';
}
