import fp from 'fastify-plugin'
import { DependencyUnavailable } from './errors.js'

/** The Redis keys of the contract: the only place their names are written. */
export interface Counters {
  /** `/cache/test`: INCR `contador_acessos` and SET `ultimo_acesso` to `at`; the new count. */
  countAccess: (at: string) => Promise<number>
  /** `/integracao`: INCR `integracao_contador` and SET `integracao_timestamp` to `at`; the new count. */
  countIntegration: (at: string) => Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    counters: Counters
  }
}

export default fp(async function counters (fastify) {
  const { client, run } = fastify.redisConnection

  /** In one round trip (MULTI): increments `counterKey`, stores `at` in `timestampKey`. */
  async function increment (counterKey: string, timestampKey: string, at: string): Promise<number> {
    try {
      const [incr, set] = await run(client.multi().incr(counterKey).set(timestampKey, at).exec()) ?? []
      if (incr === undefined || set === undefined) throw new Error('Redis transaction was discarded')
      const failure = incr[0] ?? set[0]
      if (failure) throw failure
      return incr[1] as number
    } catch (err) {
      throw new DependencyUnavailable('cache', err)
    }
  }

  fastify.decorate<Counters>('counters', {
    countAccess: async (at) => await increment('contador_acessos', 'ultimo_acesso', at),
    countIntegration: async (at) => await increment('integracao_contador', 'integracao_timestamp', at)
  })
}, { name: 'counters', dependencies: ['errors', 'redis-connection'] })
