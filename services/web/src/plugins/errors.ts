import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { errorBody, messages } from '../schemas/shared.js'

const clientErrors: Record<number, string> = {
  400: 'Requisição inválida',
  404: messages.notFound,
  405: messages.notFound,
  408: 'Tempo de requisição esgotado',
  413: 'Corpo da requisição grande demais',
  414: 'URL grande demais',
  415: 'Tipo de conteúdo não suportado',
  431: 'Cabeçalhos grandes demais'
}

/** The documented `erro` text for a client error status. */
export function clientErrorMessage (statusCode: number): string {
  return clientErrors[statusCode] ?? clientErrors[400]!
}

/**
 * Every error leaves in the contract's one shape; details of a 5xx go to the log
 * (with the request id), never to the caller. Also Fastify's `frameworkErrors`:
 * a URL the router cannot decode (`/%`) fails before any route, where the error
 * handler never sees it and Fastify would answer in a shape of its own.
 */
export function answerError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const statusCode = error.statusCode ?? 500
  if (statusCode >= 400 && statusCode < 500) {
    request.log.info({ err: error }, 'client error')
    return reply.code(statusCode).send(errorBody(clientErrorMessage(statusCode)))
  }
  request.log.error({ err: error }, 'unexpected error')
  return reply.code(500).send(errorBody(messages.internal))
}

export default fp(async function errors (fastify) {
  fastify.setErrorHandler(answerError)

  fastify.setNotFoundHandler((_request, reply) => {
    return reply.code(404).send(errorBody(messages.notFound))
  })
}, { name: 'errors' })
