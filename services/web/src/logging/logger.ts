import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config.js'
import { TurnBatchedOutput } from './output.js'

/**
 * JSON lines at LOG_LEVEL. The redaction keeps the passwords out should the
 * settings ever be logged; no line carries request headers, so there are no
 * header paths. Exact paths only: a wildcard costs a walk of every line.
 */
export function loggerOptions (config: Config, stream?: NodeJS.WritableStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: config.LOG_LEVEL,
    redact: ['config.DB_PASSWORD', 'config.REDIS_PASSWORD'],
    stream: stream ?? new TurnBatchedOutput(process.stdout.fd)
  }
}
