import { LogController, type FastifyReply, type FastifyRequest } from 'fastify'

/** Probed every few seconds by orchestrators: logging each probe would drown the log. */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics'])

/**
 * One flat line per request, written when it completes. Fastify's default writes
 * two, each through the request and reply serializers: at thousands of requests
 * a second that was the largest cost after the drivers themselves (bench/).
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const line = { method: request.method, url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else if (QUIET_ROUTES.has(request.routeOptions.url ?? '')) reply.log.debug(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
