import fp from 'fastify-plugin'
import { tracingEnabled } from '../../config.js'
import { flushTraces } from '../../tracing/flush.js'

/**
 * Declares the request's trace id: null, unless the server span's requestHook
 * (tracing/request-span.ts) sets it on a sampled request. With tracing on, the
 * spans still queued are sent once the app has closed; with it off, no hook is
 * added.
 */
export default fp(async function tracing (fastify) {
  fastify.decorateRequest('traceId', null)
  if (!tracingEnabled(fastify.config)) return
  fastify.addHook('onClose', async () => { await flushTraces(fastify.config.DEPENDENCY_TIMEOUT_MS) })
}, { name: 'tracing', decorators: { fastify: ['config'] } })
