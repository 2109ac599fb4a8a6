// The operator web console under /admin/: static HTML/CSS/JS (no build step) that drives the /admin JSON API.
// The page itself holds no data and is public; the operator types the admin password, which the page keeps in
// sessionStorage and sends as a Bearer header. No cookie is involved, so a cross-site request carries no
// credentials and needs no CSRF token.
import type { FastifyInstance } from 'fastify';
import { serveFiles } from './static.ts';

export function registerConsole(app: FastifyInstance): void {
  app.get('/admin', async (_req, reply) => reply.redirect('/admin/'));
  serveFiles(app, new URL('./public/', import.meta.url), {
    '/admin/': 'index.html',
    '/admin/console.js': 'console.js',
    '/admin/console.css': 'console.css',
  });
}
