import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { clientErrors, dependencyFailed, internalError, routeNotFound, type Dependency } from '../../messages.js'
import { errorBody } from '../../schemas/shared.js'

const dependencyNames: Record<Dependency, string> = { database: 'PostgreSQL', cache: 'Redis' }

/**
 * A dependency failed or is not usable yet (down, frozen, schema not migrated).
 * Repositories throw it; the error handler answers 503 with the contract's text
 * for that dependency and logs the cause, which never reaches the caller.
 */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable'

  constructor (readonly dependency: Dependency, cause: unknown) {
    super(dependencyFailed[dependency], { cause })
  }
}

/** The documented `erro` text for a client error status. */
function clientErrorText (statusCode: number): string {
  return clientErrors[statusCode] ?? clientErrors[400]!
}

/**
 * The error handler: every error leaves in the contract's one shape; details of
 * a 5xx go to the log (with the request id), never to the caller. Also Fastify's
 * `frameworkErrors`: a URL the router cannot decode (`/%`) fails before any
 * route, where the error handler never sees it and Fastify would answer in a
 * shape of its own.
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
 * Fastify's `clientErrorHandler`: malformed HTTP never reaches the router, so it
 * is answered here, straight on the socket, in the contract's shape too.
 */
export function answerMalformedRequest (error: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse }): void {
  // When the request before the fault was already answered (a broken body after
  // a 404, say), a second answer on the socket would corrupt the first: Node's
  // own handler makes the same check.
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const statusCode = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const body = JSON.stringify(errorBody(clientErrorText(statusCode)))
  socket.end(
    `HTTP/1.1 ${statusCode} ${statusCode === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
}

/** Registered before any route: a route takes the error handler in place when it is added. */
export default fp(async function errors (fastify) {
  fastify.setErrorHandler(answerError)

  fastify.setNotFoundHandler((_request, reply) => {
    return reply.code(404).send(errorBody(routeNotFound))
  })
}, { name: 'errors' })
