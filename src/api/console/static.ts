// Serves the console's and status page's files: read once at start, sent with a strict Content-Security-Policy so
// only our own script runs even if untrusted text (hostnames, rejection reasons) were ever rendered unescaped.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** Registers GET `route` for each file under `dir` (a file URL ending in '/'). */
export function serveFiles(app: FastifyInstance, dir: URL, files: Record<string, string>): void {
  for (const [route, file] of Object.entries(files)) {
    const body = readFileSync(new URL(file, dir));
    const type = TYPES[file.slice(file.lastIndexOf('.') + 1)];
    if (!type) throw new Error(`no content type for ${file}`);
    app.get(route, async (_req, reply) =>
      reply
        .header('content-type', type)
        .header('content-security-policy', PAGE_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }
}
