import fp from 'fastify-plugin'
import pg from 'pg'
import { Availability } from '../../availability.js'
import { sharedPerTurn } from '../../per-turn.js'

interface PostgresPool {
  /** One query on a pooled connection, recorded for the outage log. */
  query: <R extends pg.QueryResultRow>(query: pg.QueryConfig) => Promise<R[]>
  /** Runs `work` on a connection of its own, without the statement timeout: for a session lock. */
  session: <T>(applicationName: string, work: (client: pg.Client) => Promise<T>) => Promise<T>
  /** A live `SELECT 1` shared by the callers of one turn, bounded by the pool's timeouts. */
  ping: () => Promise<void>
  stats: () => { connections: number, idle: number, waiting: number }
  readonly address: { host: string, port: string }
}

declare module 'fastify' {
  interface FastifyInstance {
    postgresPool: PostgresPool
  }
}

// The pool's one decorator: @fastify/postgres would add the bare pool beside it,
// past the outage log. pg's Pool is lazy, so the service starts with PostgreSQL down.
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

  const pool = new pg.Pool({
    ...connection,
    application_name: 'web',
    max: config.DB_POOL_MAX,
    // Fail fast on a frozen server: the client gives up and the server cancels.
    query_timeout: timeout,
    statement_timeout: timeout
  })
  fastify.addHook('onClose', async () => await pool.end())

  const availability = new Availability(fastify.log, 'PostgreSQL')
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
    ping: sharedPerTurn('PostgreSQL ping', async () => {
      await availability.track(pool.query('SELECT 1'))
    }),
    stats: () => ({ connections: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    address: { host: config.DB_HOST, port: String(config.DB_PORT) }
  })
}, { name: 'postgres-pool', decorators: { fastify: ['config'] } })
