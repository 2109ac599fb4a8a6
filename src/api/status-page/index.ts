// The public status page for PDS admins (GET /status): type a hostname, see whether this relay crawls it, its status,
// quota usage and recent rejections (from GET /api/host-status), and ask for a crawl (requestCrawl).
import type { FastifyInstance } from 'fastify';
import { serveFiles } from '../console/static.ts';

export function registerStatusPage(app: FastifyInstance): void {
  serveFiles(app, new URL('./public/', import.meta.url), {
    '/status': 'status.html',
    '/status.js': 'status.js',
    '/status.css': 'status.css',
  });
}
