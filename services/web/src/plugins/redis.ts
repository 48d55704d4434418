import { once } from 'node:events'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { Availability } from '../availability.js'
import { withDeadline } from '../time.js'

export interface Cache {
  /**
   * In one round trip (MULTI): increments `counterKey`, stores `at` in
   * `timestampKey`, and returns the counter's new value.
   */
  increment: (counterKey: string, timestampKey: string, at: string) => Promise<number>
  /** A live `PING`, bounded by the dependency timeout (commandTimeout). */
  ping: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
    cache: Cache
  }
}

const RETRY_CAP_MS = 2000

// @fastify/redis is not used: it holds boot until the client is ready, and the
// service must start and answer `/` while Redis is down.
export default fp(async function redis (fastify) {
  const { config } = fastify
  const timeout = config.DEPENDENCY_TIMEOUT_MS
  const client = new Redis({
    host: config.REDIS_HOST,
    port: config.REDIS_PORT,
    db: config.REDIS_DB,
    password: config.REDIS_PASSWORD,
    connectionName: 'web',
    connectTimeout: timeout,
    commandTimeout: timeout,
    // Fail at once while disconnected instead of queueing (ioredis would retry
    // a command for over a minute), and reconnect forever with capped back-off.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, RETRY_CAP_MS),
    enableAutoPipelining: true
  })

  const availability = new Availability(fastify.log, 'Redis')
  client.on('error', (err) => availability.markDown(err))
  client.on('ready', () => availability.markUp())
  // A command that fails because the connection has just gone says only "Stream
  // isn't writeable" or "Connection is closed."; the connection's own error event
  // names the cause (connect ECONNREFUSED, getaddrinfo ENOTFOUND cache), so only a
  // failure on a usable connection (a timeout, say) reports the outage itself.
  async function tracked<T> (call: Promise<T>): Promise<T> {
    try {
      const result = await call
      availability.markUp()
      return result
    } catch (err) {
      if (client.status === 'ready' && client.stream.writable) availability.markDown(err)
      throw err
    }
  }

  fastify.decorate('redis', client)
  fastify.decorate<Cache>('cache', {
    async increment (counterKey, timestampKey, at) {
      const [incr, set] = await tracked(client.multi().incr(counterKey).set(timestampKey, at).exec()) ?? []
      if (incr === undefined || set === undefined) throw new Error('Redis transaction was discarded')
      const failure = incr[0] ?? set[0]
      if (failure) throw failure
      return incr[1] as number
    },
    async ping () {
      // Already bounded: commandTimeout, and no offline queue while disconnected.
      await tracked(client.ping())
    }
  })

  fastify.addHook('onClose', async () => {
    if (client.status === 'ready') await client.quit()
    else client.disconnect()
  })

  // Give a reachable Redis the moment it needs to be ready before the first
  // request, without letting an unreachable one hold the start.
  await withDeadline(once(client, 'ready'), timeout, 'Redis').catch(() => {})
}, { name: 'redis' })
