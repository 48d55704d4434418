import fp from 'fastify-plugin'
import fastifyPostgres from '@fastify/postgres'
import pg from 'pg'
import { Availability } from '../../availability.js'
import { sharedPerTurn } from '../../per-turn.js'

export interface PostgresPool {
  /** One query on a pooled connection; its success or failure is recorded for the outage log. */
  query: <R extends pg.QueryResultRow>(query: pg.QueryConfig) => Promise<R[]>
  /**
   * Runs `work` on a connection of its own, outside the pool and without its
   * statement timeout, then closes it: for work that holds a session (the
   * migration lock). Recorded like `query`.
   */
  session: <T>(applicationName: string, work: (client: pg.Client) => Promise<T>) => Promise<T>
  /**
   * A live `SELECT 1`, shared by the callers of one event-loop turn, bounded by
   * the pool's own timeouts: connectionTimeoutMillis for a connection (a free one
   * or a new one), query_timeout for the answer.
   */
  ping: () => Promise<void>
  /** The pool's connections right now, for /metrics. */
  stats: () => { connections: number, idle: number, waiting: number }
  /** Where PostgreSQL is, as `GET /` reports it. */
  readonly address: { host: string, port: string }
}

declare module 'fastify' {
  interface FastifyInstance {
    postgresPool: PostgresPool
  }
}

// The pg Pool is lazy: the service starts with PostgreSQL down and the first
// query reports it. @fastify/postgres ends the pool when the app closes.
export default fp(async function postgresPool (fastify) {
  const { config } = fastify
  const timeout = config.DEPENDENCY_TIMEOUT_MS
  const connection: pg.ClientConfig = {
    host: config.DB_HOST,
    port: config.DB_PORT,
    database: config.DB_NAME,
    user: config.DB_USER,
    password: config.DB_PASSWORD,
    connectionTimeoutMillis: timeout,
    keepAlive: true,
    // `acessos.timestamp` defaults to CURRENT_TIMESTAMP: keep it in UTC like the API.
    options: '-c timezone=UTC'
  }

  await fastify.register(fastifyPostgres, {
    ...connection,
    application_name: 'web',
    max: config.DB_POOL_MAX,
    // Fail fast on a frozen server: the client gives up and the server cancels.
    query_timeout: timeout,
    statement_timeout: timeout
  })

  const availability = new Availability(fastify.log, 'PostgreSQL')
  const { pool } = fastify.pg
  // A restarted server kills idle pool clients; without a listener pg's error
  // event would crash the process.
  pool.on('error', (err) => availability.markDown(err))

  async function session<T> (applicationName: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ ...connection, application_name: applicationName })
    client.on('error', (err) => availability.markDown(err))
    await availability.track(client.connect())
    try {
      return await availability.track(work(client))
    } finally {
      await client.end()
    }
  }

  fastify.decorate<PostgresPool>('postgresPool', {
    async query<R extends pg.QueryResultRow> (query: pg.QueryConfig) {
      return (await availability.track(pool.query<R>(query))).rows
    },
    session,
    ping: sharedPerTurn(async () => {
      await availability.track(pool.query('SELECT 1'))
    }),
    stats: () => ({ connections: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    address: { host: config.DB_HOST, port: String(config.DB_PORT) }
  })
}, { name: 'postgres-pool', decorators: { fastify: ['config'] } })
