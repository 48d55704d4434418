import fp from 'fastify-plugin'
import { tracingEnabled } from '../../config.js'
import { flushTraces } from '../../tracing/flush.js'

/**
 * The request's trace id, which the server span's requestHook
 * (tracing/request-span.ts) sets on a traced request, and, once the app has
 * closed, the spans still queued sent. With tracing off, no hook is added.
 */
export default fp(async function tracing (fastify) {
  fastify.decorateRequest('traceId', null)
  if (!tracingEnabled(fastify.config)) return
  fastify.addHook('onClose', async () => { await flushTraces(fastify.config.DEPENDENCY_TIMEOUT_MS) })
}, { name: 'tracing', decorators: { fastify: ['config'] } })
