import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import express from 'express';
import { OciError } from '../oci/errors';

/** Where `npm run build` puts the console (ui/build.mjs); the same place from src/ and from dist/. */
export const CONSOLE_DIR = path.resolve(__dirname, '..', '..', 'dist', 'ui');

/**
 * What every console response says to the browser: scripts and styles only from this origin and never
 * inline (a registry-supplied string that slips through cannot run), no plug-ins, no framing, no
 * referrer leaving the registry.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function consoleHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  // The bundle's file names do not change between builds: a browser asks again, and gets a 304.
  res.setHeader('Cache-Control', 'no-cache');
}

/** The web console's files at /ui/, and `/` sending browsers there. */
export function consoleAssets(dir = CONSOLE_DIR): express.Router {
  // Strict: without it '/ui' would also match '/ui/' and redirect to itself.
  const router = express.Router({ strict: true });
  router.get('/', (_req, res) => res.redirect(302, '/ui/'));
  router.get('/ui', (_req, res) => res.redirect(301, '/ui/'));
  router.use('/ui', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (!existsSync(path.join(dir, 'index.html')))
      throw new OciError('NOT_FOUND', 'the web console is not built: run `npm run build`', undefined);
    consoleHeaders(res);
    next();
  });
  router.use(
    '/ui',
    express.static(dir, { index: 'index.html', dotfiles: 'deny', etag: true, lastModified: false, fallthrough: true }),
  );
  return router;
}
