// XRPC errors on the wire: JSON `{error, message}` with the matching HTTP status.
import type { FastifyReply } from 'fastify';

export function sendXrpcError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error, message });
}
