import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fp from 'fastify-plugin'
import type pg from 'pg'
import Postgrator from 'postgrator'
import type { FastifyBaseLogger } from 'fastify'
import { retryDelayMs } from '../../availability.js'

const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url))
const MIGRATIONS = join(MIGRATIONS_DIR, '*.sql')

// Any 64-bit constant works as long as every replica uses the same one.
export const MIGRATION_LOCK = 4_357_102_388

export interface Migrations {
  /** Until true, the schema-dependent queries must not run. */
  readonly applied: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    migrations: Migrations
  }
}

/**
 * Brings the schema to the newest version. Replicas starting together queue on a
 * session advisory lock: the first applies the files, the others then find
 * nothing left to do. The lock dies with the session if a replica crashes.
 */
async function migrate (client: pg.Client, database: string, log: FastifyBaseLogger): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
  const postgrator = new Postgrator({
    migrationPattern: MIGRATIONS,
    driver: 'pg',
    database,
    execQuery: async (query) => await client.query(query)
  })
  for (const migration of await postgrator.migrate()) {
    log.info({ version: migration.version, name: migration.name }, 'migration applied')
  }
}

/**
 * Fails unless the build ships its migrations: without them postgrator would
 * find nothing to apply, report the schema current, and every insert would
 * then fail for want of its table.
 */
async function requireMigrationFiles (): Promise<void> {
  // Only a missing folder is one without migrations; an unreadable one fails with its own error.
  const files = await readdir(MIGRATIONS_DIR).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return []
    throw error
  })
  if (!files.some((file) => file.endsWith('.sql'))) {
    throw new Error(`no migrations in ${MIGRATIONS_DIR}: this build lacks the migrations/ folder that ships beside dist/`)
  }
}

// With the database down the service still starts; migrations keep retrying in
// the background and the schema-dependent endpoints answer 503 meanwhile.
export default fp(async function migrations (fastify) {
  await requireMigrationFiles()
  const { postgresPool, config, log } = fastify
  let applied = false
  let retryTimer: NodeJS.Timeout | undefined
  let closing = false

  async function attempt (count: number): Promise<void> {
    try {
      await postgresPool.session('web-migrations', async (client) => await migrate(client, config.DB_NAME, log))
      applied = true
    } catch {
      // postgresPool has logged the outage; retry until the app closes.
      if (closing) return
      retryTimer = setTimeout(attempt, retryDelayMs(count), count + 1)
    }
  }

  fastify.decorate<Migrations>('migrations', {
    get applied () {
      return applied
    }
  })

  fastify.addHook('onClose', async () => {
    closing = true
    clearTimeout(retryTimer)
  })

  await attempt(0)
}, { name: 'migrations', dependencies: ['postgres-pool'], decorators: { fastify: ['config'] } })
