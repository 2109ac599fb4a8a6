// XRPC errors: JSON `{error, message}` with the matching HTTP status.
import type { FastifyReply } from 'fastify';

export class XrpcError extends Error {
  readonly status: number;
  readonly error: string;
  constructor(
    status: number,
    error: string,
    message: string,
  ) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

export function sendXrpcError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error, message });
}
