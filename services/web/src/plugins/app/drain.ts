import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { FastifyReply } from 'fastify'

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
 */
export default fp(async function drain (fastify) {
  const delayMs = fastify.config.SHUTDOWN_DELAY_MS
  const inFlight = new Set<FastifyReply>()
  let active = false

  fastify.addHook('onRequest', (_request, reply, done) => {
    if (active) {
      reply.header('connection', 'close')
    } else {
      inFlight.add(reply)
      // 'close' comes whether the answer went out or the client went away.
      reply.raw.once('close', () => inFlight.delete(reply))
    }
    done()
  })

  fastify.decorate<Drain>('drain', {
    get active () {
      return active
    },
    async begin () {
      active = true
      for (const reply of inFlight) if (!reply.raw.headersSent) reply.header('connection', 'close')
      inFlight.clear()
      await sleep(delayMs)
    }
  })
}, { name: 'drain', decorators: { fastify: ['config'] } })
