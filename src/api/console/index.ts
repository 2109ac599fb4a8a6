// The operator web console under /admin/: static HTML/CSS/JS (no build step) that drives the /admin JSON API.
// The page itself holds no data and is public; the operator types the admin password, which the page keeps in
// sessionStorage and sends as a Bearer header. No cookie is involved, so a cross-site request carries no
// credentials and needs no CSRF token.
import type { FastifyInstance } from 'fastify';
import type { Counter } from 'prom-client';
import type { RelayContext } from '../../context.ts';
import { makeAdminGuard } from '../admin-auth.ts';
import { serveFiles } from './static.ts';

async function total(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

export function registerConsole(app: FastifyInstance, ctx: RelayContext): void {
  app.get('/admin', async (_req, reply) => reply.redirect('/admin/'));
  serveFiles(app, new URL('./public/', import.meta.url), {
    '/admin/': 'index.html',
    '/admin/console.js': 'console.js',
    '/admin/console.css': 'console.css',
  });

  void app.register(async (admin) => {
    admin.addHook('onRequest', makeAdminGuard(ctx.config.adminPassword));
    /** Cumulative counters for the console's rate charts; the page derives rates from successive polls. */
    admin.get('/admin/stats', async () => {
      const m = ctx.metrics;
      return {
        at: Date.now(),
        version: ctx.version,
        headSeq: ctx.hub.lastSeq,
        consumers: ctx.firehose.consumers.size,
        received: await total(m.eventsReceived),
        accepted: await total(m.eventsAccepted),
        rejected: await total(m.eventsRejected),
        broadcast: await total(m.eventsBroadcast),
      };
    });
  });
}
