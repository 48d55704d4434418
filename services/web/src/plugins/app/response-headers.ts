import fp from 'fastify-plugin'
import { answerHeaders } from '../../answer-headers.js'

export default fp(async function responseHeaders (fastify) {
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.headers(answerHeaders(request.id))
    done()
  })
}, { name: 'response-headers' })
