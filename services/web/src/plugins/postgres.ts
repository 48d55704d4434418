import fp from 'fastify-plugin'
import fastifyPostgres from '@fastify/postgres'
import type pg from 'pg'
import { Availability } from '../availability.js'
import { applyMigrations } from '../migrations.js'
import { withDeadline } from '../time.js'

export interface Database {
  /** Inserts one row into `acessos` and returns its id. */
  recordAccess: (endpoint: string) => Promise<number>
  /** The exact number of rows in `acessos`, read from the trigger-kept counter. */
  countAccesses: () => Promise<number>
  /** A live `SELECT 1`, bounded by the dependency timeout. */
  ping: () => Promise<void>
  /** True once every migration has been applied. */
  readonly schemaReady: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
  }
}

const RETRY_CAP_MS = 2000

export default fp(async function postgres (fastify) {
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

  let schemaReady = false
  let retryTimer: NodeJS.Timeout | undefined
  let closing = false

  async function migrate (attempt: number): Promise<void> {
    try {
      await applyMigrations(connection, fastify.log)
      schemaReady = true
      availability.markUp()
    } catch (err) {
      availability.markDown(err)
      if (closing) return
      const delay = Math.min(100 * 2 ** attempt, RETRY_CAP_MS)
      retryTimer = setTimeout(migrate, delay, attempt + 1)
    }
  }

  function requireSchema (): void {
    if (!schemaReady) throw new Error('database schema is not migrated yet')
  }

  fastify.decorate<Database>('database', {
    async recordAccess (endpoint) {
      requireSchema()
      const { rows } = await availability.track(pool.query<{ id: number }>({
        name: 'record-access',
        text: 'INSERT INTO acessos (endpoint) VALUES ($1) RETURNING id',
        values: [endpoint]
      }))
      return rows[0]!.id
    },
    async countAccesses () {
      requireSchema()
      const { rows } = await availability.track(pool.query<{ total: string }>({
        name: 'count-accesses',
        text: 'SELECT sum(total)::bigint AS total FROM acessos_contagem'
      }))
      return Number(rows[0]!.total)
    },
    async ping () {
      await availability.track(withDeadline(pool.query('SELECT 1'), timeout, 'PostgreSQL'))
    },
    get schemaReady () {
      return schemaReady
    }
  })

  // With the database down the service still starts; migrations keep retrying in
  // the background and the schema-dependent endpoints answer 503 meanwhile.
  await migrate(0)

  fastify.addHook('onClose', async () => {
    closing = true
    clearTimeout(retryTimer)
  })
}, { name: 'postgres' })
