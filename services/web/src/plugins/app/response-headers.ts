import fp from 'fastify-plugin'

/**
 * Headers on every answer: the request id, so a caller can quote it and logs
 * join across services; `no-store`, because every answer is live state (a
 * count, a timestamp, a health) that no cache may serve again.
 */
export default fp(async function responseHeaders (fastify) {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    reply.header('cache-control', 'no-store')
    done()
  })
}, { name: 'response-headers' })
