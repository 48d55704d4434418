import fp from 'fastify-plugin'
import type { Result } from 'ioredis'
import { DependencyUnavailable } from '../errors/dependency-unavailable.js'

/** The Redis keys of the contract: the only place their names are written. */
interface Counters {
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

declare module 'ioredis' {
  interface RedisCommander<Context> {
    incrementAndStamp: (counterKey: string, timestampKey: string, at: string) => Result<number, Context>
  }
}

export default fp(async function counters (fastify) {
  const { client, send } = fastify.redisConnection

  // One script rather than MULTI, INCR, SET, EXEC: as atomic, and one command for
  // ioredis to build, send and parse instead of four. ioredis sends EVALSHA and
  // falls back to EVAL when Redis has lost its script cache.
  client.defineCommand('incrementAndStamp', {
    numberOfKeys: 2,
    lua: "local count = redis.call('INCR', KEYS[1]) redis.call('SET', KEYS[2], ARGV[1]) return count"
  })

  async function increment (counterKey: string, timestampKey: string, at: string): Promise<number> {
    try {
      return await send(() => client.incrementAndStamp(counterKey, timestampKey, at))
    } catch (err) {
      throw new DependencyUnavailable('cache', err)
    }
  }

  fastify.decorate<Counters>('counters', {
    countAccess: async (at) => await increment('contador_acessos', 'ultimo_acesso', at),
    countIntegration: async (at) => await increment('integracao_contador', 'integracao_timestamp', at)
  })
}, { name: 'counters', dependencies: ['errors', 'redis-connection'] })
