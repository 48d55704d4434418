import fp from 'fastify-plugin'
import { trace } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { tracingEnabled } from '../../config.js'
import { flushTraces } from '../../tracing/flush.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The id of the request's trace; null when it is not traced. */
    traceId: string | null
  }
}

/**
 * Points logs and metrics at traces: a traced request's log lines carry its
 * trace_id and span_id beside its reqId, and its trace id is kept for the
 * duration histogram's exemplar. Once the app has closed, the spans still
 * queued are sent. With tracing off, no hook is added.
 */
export default fp(async function tracing (fastify) {
  fastify.decorateRequest('traceId', null)
  if (!tracingEnabled(fastify.config)) return

  // Runs after @fastify/otel's own onRequest hook, within the request's span.
  fastify.addHook('onRequest', (request, reply, done) => {
    const span = trace.getActiveSpan()
    if (span?.isRecording() === true) {
      const { traceId, spanId } = span.spanContext()
      request.traceId = traceId
      // The request's own child logger takes the ids: a second child per request costs
      // more. Fastify builds its loggers with pino from the logger options (logging/logger.ts).
      const log = request.log as Logger
      log.setBindings({ trace_id: traceId, span_id: spanId })
    }
    done()
  })

  fastify.addHook('onClose', async () => { await flushTraces(fastify.config.DEPENDENCY_TIMEOUT_MS) })
}, { name: 'tracing', decorators: { fastify: ['config'] } })
