// Access lines at debug: on a busy relay they would otherwise be most of the log at info. A request that ended in a
// server error stays at warn (the error handler logs the error itself at error); nothing is logged on arrival.
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const entry = { req: request, res: reply, responseTime: Math.round(reply.elapsedTime * 10) / 10 };
    if (error) request.log.error({ ...entry, err: error }, 'request errored');
    else if (reply.statusCode >= 500) request.log.warn(entry, 'request answered with a server error');
    else request.log.debug(entry, 'request completed');
  }
}
