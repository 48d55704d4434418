import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'

export interface Drain {
  /** True from the first shutdown signal on: readiness fails with `encerrando`. */
  readonly active: boolean
  /**
   * Starts draining: from now on every answer, including those of requests
   * already in flight, carries `Connection: close`. Resolves SHUTDOWN_DELAY_MS
   * later, when the listener may close.
   */
  begin: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    drain: Drain
  }
}

/**
 * A balancer (or a Kubernetes Service) keeps sending requests for a moment after
 * the shutdown signal, until its health check sees the readiness probe fail. The
 * service keeps serving them meanwhile, and tells each client to reconnect, so
 * no keep-alive connection stays pinned to a process about to go. Node's close()
 * ends only the idle keep-alive connections; one whose request is in flight would
 * stay open after its answer, holding the exit, without this header.
 *
 * The header is added in onSend, just before an answer's headers go out, so a
 * request already in flight when the drain begins gets it too, with no record of
 * the requests in flight (a listener per request cost more than this hook:
 * docs/performance.md).
 */
export default fp(async function drain (fastify) {
  const delayMs = fastify.config.SHUTDOWN_DELAY_MS
  let active = false

  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (active) reply.header('connection', 'close')
    done(null, payload)
  })

  fastify.decorate<Drain>('drain', {
    get active () {
      return active
    },
    async begin () {
      active = true
      await sleep(delayMs)
    }
  })
}, { name: 'drain', decorators: { fastify: ['config'] } })
