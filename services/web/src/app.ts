import Fastify from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Config } from './config.js'
import { loggerOptions } from './logging/logger.js'
import { requestId } from './logging/request-id.js'
import { RequestLog } from './logging/request-log.js'
import { answerFrameworkError } from './errors/error-handler.js'
import { answerMalformedRequest } from './errors/malformed-request.js'
import postgresPool from './plugins/external/postgres.js'
import redisConnection from './plugins/external/redis.js'
import migrations from './plugins/external/migrations.js'
import errors from './plugins/app/errors.js'
import responseHeaders from './plugins/app/response-headers.js'
import drain from './plugins/app/drain.js'
import tracing from './plugins/app/tracing.js'
import metrics from './plugins/app/metrics.js'
import docs from './plugins/app/docs.js'
import accesses from './repositories/accesses.js'
import counters from './repositories/counters.js'
import health from './routes/health.js'
import status from './routes/status.js'
import db from './routes/db.js'
import cache from './routes/cache.js'
import integracao from './routes/integracao.js'

interface BuildOptions {
  logStream?: NodeJS.WritableStream
}

/**
 * Builds the whole service without listening: drivers, the service's own
 * plugins, the repositories, then the routes. Each plugin names what it needs,
 * so a wrong order fails here, at boot.
 */
export async function buildApp (config: Config, options: BuildOptions = {}) {
  const app = Fastify({
    logger: loggerOptions(config, options.logStream),
    genReqId: requestId,
    requestIdHeader: false,
    // Fastify would otherwise answer HEAD with the GET handler, which writes.
    exposeHeadRoutes: false,
    logController: new RequestLog(),
    clientErrorHandler: answerMalformedRequest,
    frameworkErrors: answerFrameworkError,
    // Requests arriving while closing are served (see the drain plugin), not refused.
    return503OnClosing: false,
    bodyLimit: 16 * 1024
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('config', config)

  await app.register(postgresPool)
  await app.register(redisConnection)
  await app.register(migrations)

  await app.register(errors)
  await app.register(responseHeaders)
  await app.register(drain)
  await app.register(tracing)
  await app.register(metrics)
  await app.register(docs)

  await app.register(accesses)
  await app.register(counters)

  await app.register(health)
  await app.register(status)
  await app.register(db)
  await app.register(cache)
  await app.register(integracao)

  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
