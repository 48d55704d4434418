import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import errors, { answerError, clientErrorMessage } from './plugins/errors.js'
import postgres from './plugins/postgres.js'
import redis from './plugins/redis.js'
import docs from './plugins/docs.js'
import metrics from './plugins/metrics.js'
import health from './routes/health.js'
import status from './routes/status.js'
import db from './routes/db.js'
import cache from './routes/cache.js'
import integracao from './routes/integracao.js'
import { errorBody } from './schemas/shared.js'
import { RequestLog } from './request-log.js'

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/

/** Reuses the caller's `x-request-id` when it is safe to log, so logs join across services. */
function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID()
}

// Malformed HTTP never reaches Fastify's router; answer it in the contract's shape too.
function onClientError (error: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse }): void {
  // When the request before the fault was already answered (a broken body after
  // a 404, say), a second answer on the socket would corrupt the first: Node's
  // own handler makes the same check.
  if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent === true) {
    socket.destroy()
    return
  }
  const statusCode = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const body = JSON.stringify(errorBody(clientErrorMessage(statusCode)))
  socket.end(
    `HTTP/1.1 ${statusCode} ${statusCode === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  )
}

export interface BuildOptions {
  /** Where log lines go: stdout unless a test captures them. */
  logStream?: NodeJS.WritableStream
}

/** Builds the whole service without listening: `server.ts` listens, tests inject. */
export async function buildApp (config: Config, options: BuildOptions = {}) {
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Nothing logs headers or settings today; these keep credentials out if
      // someone does. Exact paths only: wildcards cost a walk of every line.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'config.DB_PASSWORD', 'config.REDIS_PASSWORD'],
      ...(options.logStream === undefined ? {} : { stream: options.logStream })
    },
    genReqId: requestId,
    requestIdHeader: false,
    // Fastify would otherwise answer HEAD with the GET handler, which writes.
    exposeHeadRoutes: false,
    logController: new RequestLog(),
    clientErrorHandler: onClientError,
    // A URL the router cannot decode (`/%`) fails before any route exists.
    frameworkErrors: answerError,
    // Requests arriving on an open connection while draining are served, with
    // `Connection: close`, rather than refused in a body of Fastify's own shape.
    return503OnClosing: false,
    bodyLimit: 16 * 1024
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    reply.header('cache-control', 'no-store')
    done()
  })

  await app.register(errors)
  await app.register(docs)
  await app.register(postgres)
  await app.register(redis)
  await app.register(metrics)
  await app.register(health)
  await app.register(status)
  await app.register(db)
  await app.register(cache)
  await app.register(integracao)

  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
