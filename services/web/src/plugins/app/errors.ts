import fp from 'fastify-plugin'
import { answerError } from '../../errors/error-handler.js'
import { routeNotFound } from '../../messages.js'
import { errorBody } from '../../schemas/shared.js'

/** Registered before any route: a route takes the error handler in place when it is added. */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(answerError)
  fastify.setNotFoundHandler((_request, reply) => reply.code(404).send(errorBody(routeNotFound)))
}, { name: 'errors' })
