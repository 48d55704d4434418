import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'

interface Drain {
  /** True from the first shutdown signal on. */
  readonly active: boolean
  /** From now on every answer carries `Connection: close`; resolves SHUTDOWN_DELAY_MS later. */
  begin: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    drain: Drain
  }
}

/**
 * A balancer keeps sending requests until its health check sees readiness fail:
 * they are served, and each client is told to reconnect elsewhere. The header is
 * set in onSend, so a request already in flight when the drain begins gets it too,
 * and its connection does not outlive the listener.
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
