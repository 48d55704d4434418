import { once } from 'node:events'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { Availability, retryDelayMs } from '../../availability.js'
import { sharedPerTurn, togetherPerTurn } from '../../per-turn.js'

interface RedisConnection {
  /** For repositories, which call it through `send`: commands fail at once while it is disconnected. */
  readonly client: Redis
  /**
   * Makes `command`, a call on `client`, at the end of the turn with the other
   * commands of the turn, all in one write, and awaits it, recorded for the outage log.
   */
  send: <T>(command: () => Promise<T>) => Promise<T>
  /** A live `PING` shared by the callers of one turn, bounded by commandTimeout. */
  ping: () => Promise<void>
  stats: () => { connected: boolean }
  readonly address: { host: string, port: string }
}

declare module 'fastify' {
  interface FastifyInstance {
    redisConnection: RedisConnection
  }
}

// Not @fastify/redis: it holds boot until Redis is ready, and the service must
// start and answer `/` while Redis is down.
export default fp(async function redisConnection (fastify) {
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
    retryStrategy: (attempt) => retryDelayMs(attempt - 1)
  })

  const availability = new Availability(fastify.log, 'Redis')
  client.on('error', (err) => availability.markDown(err))
  client.on('ready', () => availability.markUp())

  // A command failing on a connection that has just gone says only "Connection is
  // closed."; the connection's error event names the cause, so only a failure on a
  // usable connection reports the outage itself.
  const connectionUsable = () => client.status === 'ready' && client.stream.writable
  const run = async <T>(command: Promise<T>): Promise<T> => await availability.track(command, connectionUsable)
  // One write for a turn's commands, as ioredis' auto-pipelining would send them,
  // but each command made from its own request, so that a trace shows every request
  // its own command; auto-pipelining makes them all from the request that came first.
  const inOneWrite = togetherPerTurn((makeCalls) => {
    // Disconnected, commands fail at once and write nothing.
    if (client.status !== 'ready') return makeCalls()
    const { stream } = client
    stream.cork()
    try {
      makeCalls()
    } finally {
      stream.uncork()
    }
  })

  fastify.decorate<RedisConnection>('redisConnection', {
    client,
    send: (command) => run(inOneWrite(command)),
    ping: sharedPerTurn('Redis ping', async () => {
      await run(client.ping())
    }),
    stats: () => ({ connected: client.status === 'ready' }),
    address: { host: config.REDIS_HOST, port: String(config.REDIS_PORT) }
  })

  // Closed once the connection has ended, not merely once QUIT was answered, so
  // that Redis no longer lists the client when close() resolves.
  fastify.addHook('onClose', async () => {
    if (client.status === 'ready') await Promise.all([once(client, 'end'), client.quit()])
    else client.disconnect()
  })

  // Give a reachable Redis the moment it needs to be ready before the first
  // request, without letting an unreachable one hold the start.
  await once(client, 'ready', { signal: AbortSignal.timeout(timeout) }).catch(() => {})
}, { name: 'redis-connection', decorators: { fastify: ['config'] } })
