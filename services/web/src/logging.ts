import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import sonicBoom from 'sonic-boom'
import type { Config } from './config.js'
import { TurnBatch } from './per-turn.js'

/**
 * The logger: JSON lines at LOG_LEVEL. Nothing logs the settings today; the
 * redaction keeps the passwords out if someone ever does (a test hands the
 * config to the logger). There are no header paths: no line carries request
 * headers (RequestLog writes method, url, status and time only), and a test
 * sends credentials in headers and finds them nowhere in the log. Exact paths
 * only: wildcards cost a walk of every line.
 */
export function loggerOptions (config: Config, stream?: NodeJS.WritableStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: config.LOG_LEVEL,
    redact: ['config.DB_PASSWORD', 'config.REDIS_PASSWORD'],
    stream: stream ?? new TurnBatchedOutput(process.stdout.fd)
  }
}

/**
 * Where log lines go (stdout in the service): the lines of one turn of the event
 * loop leave in one write (per-turn.ts), instead of a system call or a hand-off
 * to libuv's thread pool per line. sonic-boom writes synchronously, as pino's
 * sync mode does, waiting while a pipe is full.
 */
export class TurnBatchedOutput {
  readonly #out: InstanceType<typeof sonicBoom.SonicBoom>
  readonly #batch = new TurnBatch<string>((lines) => this.#out.write(lines.join('')))

  constructor (fd: number) {
    this.#out = new sonicBoom.SonicBoom({ fd, sync: true })
    // A reader that went away (EPIPE) must not bring the service down; pino's
    // own stdout ignores it the same way.
    this.#out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err
    })
    // process.exit() (close-with-grace calls it) skips the pending setImmediate.
    process.once('exit', this.#batch.flushNow)
  }

  write (line: string): void {
    this.#batch.add(line)
  }
}

const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/

/** Reuses the caller's `x-request-id` when it is safe to log, so logs join across services. */
export function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID()
}

/** Probed every few seconds by orchestrators: logging each probe would drown the log. */
const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics'])

/**
 * One flat line per request, written when it completes. Fastify's default writes
 * two, each through the request and reply serializers, a cost paid on every request.
 */
export class RequestLog extends LogController {
  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url
    const { statusCode, elapsedTime } = reply
    const line = { method: request.method, url: request.url, statusCode, responseTime: elapsedTime }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else if (QUIET_ROUTES.has(route ?? '')) reply.log.debug(line, 'request completed')
    else reply.log.info(line, 'request completed')
  }
}
