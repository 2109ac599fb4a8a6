// Admin authentication: the configured password, as HTTP Basic (any user name) or a Bearer token, compared in
// constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendXrpcError } from './xrpc-error.ts';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export function presentedPassword(header: string | undefined): string | null {
  if (!header) return null;
  const [scheme, value] = header.split(' ', 2);
  if (!scheme || !value) return null;
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon === -1 ? null : decoded.slice(colon + 1);
  }
  return null;
}

export function makeAdminGuard(password: string | null) {
  const expected = password === null ? null : digest(password);
  return async function adminGuard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (expected === null) {
      await sendXrpcError(reply, 403, 'AdminDisabled', 'the admin API is disabled: set RELAY_ADMIN_PASSWORD');
      return;
    }
    const given = presentedPassword(req.headers.authorization);
    // Hash both sides so the comparison is constant-time whatever the lengths.
    if (given === null || !timingSafeEqual(digest(given), expected)) {
      // The Basic challenge opens a browser's own login dialog; a Bearer client (the web console) handles 401 itself.
      if (!/^bearer /i.test(req.headers.authorization ?? '')) reply.header('WWW-Authenticate', 'Basic realm="relay admin"');
      await sendXrpcError(reply, 401, 'AuthenticationRequired', 'invalid or missing admin password');
    }
  };
}
