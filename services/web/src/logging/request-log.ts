import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'
import { isQuiet } from '../quiet-routes.js'

/**
 * One flat line per request, written when it completes. Fastify's default writes
 * two, each through the request and reply serializers, a cost paid on every request.
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const { statusCode, elapsedTime } = reply
    const line = { method: request.method, url: request.url, statusCode, responseTime: elapsedTime }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else if (isQuiet(request)) reply.log.debug(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
