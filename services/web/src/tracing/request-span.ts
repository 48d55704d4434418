import type { Span } from '@opentelemetry/api'
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the request's trace; null when it is not traced. */
    traceId: string | null
  }
}

/**
 * @fastify/otel's requestHook, run as it starts the server span of a request
 * sampled at its head (request-sampling.ts); it never sees any other. The span
 * is named by the route pattern, and logs and metrics are pointed at its
 * trace: its ids go on the request's log lines beside the reqId, its trace id
 * to the duration histogram's exemplar.
 */
export function onRequestSpan (span: Span, request: FastifyRequest): void {
  span.updateName(request.routeOptions.url === undefined ? request.method : `${request.method} ${request.routeOptions.url}`)
  const { traceId, spanId } = span.spanContext()
  request.traceId = traceId
  // The request's own child logger takes the ids: a second child per request costs
  // more. Fastify builds its loggers with pino from the logger options (logging/logger.ts).
  const log = request.log as Logger
  log.setBindings({ trace_id: traceId, span_id: spanId })
}
