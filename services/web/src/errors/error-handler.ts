import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { clientErrorText, internalError } from '../messages.js'
import { errorBody } from '../schemas/shared.js'
import { answerHeaders } from '../answer-headers.js'
import { DependencyUnavailable } from './dependency-unavailable.js'

const dependencyNames = { database: 'PostgreSQL', cache: 'Redis' } as const

/**
 * Every error leaves in the contract's one shape; details of a 5xx go to the
 * log (with the request id), never to the caller.
 */
export function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof DependencyUnavailable) {
    request.log.info({ err: error.cause }, `${dependencyNames[error.dependency]} request failed`)
    return reply.code(503).send(errorBody(error.message))
  }
  const statusCode = error.statusCode ?? 500
  if (statusCode >= 400 && statusCode < 500) {
    request.log.info({ err: error }, 'client error')
    return reply.code(statusCode).send(errorBody(clientErrorText(statusCode)))
  }
  request.log.error({ err: error }, 'unexpected error')
  return reply.code(500).send(errorBody(internalError))
}

/**
 * Fastify's `frameworkErrors`: a URL the router cannot decode (`/%`) fails
 * before any route or hook, so this answer gets the common headers here.
 */
export function answerFrameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  reply.headers(answerHeaders(request.id))
  return answerError(error, request, reply)
}
