import { fileURLToPath } from 'node:url'
import pg from 'pg'
import Postgrator from 'postgrator'
import type { FastifyBaseLogger } from 'fastify'

const MIGRATIONS = fileURLToPath(new URL('../migrations/*.sql', import.meta.url))

// Any 64-bit constant works as long as every replica uses the same one.
export const MIGRATION_LOCK = 4_357_102_388

/**
 * Brings the schema to the newest version. Replicas starting together queue on a
 * session advisory lock: the first applies the files, the others then find
 * nothing left to do. The lock dies with the session if a replica crashes.
 */
export async function applyMigrations (connection: pg.ClientConfig, log: FastifyBaseLogger): Promise<void> {
  const client = new pg.Client({ ...connection, application_name: 'web-migrations' })
  client.on('error', (err) => log.warn({ err }, 'migration connection failed'))
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    const postgrator = new Postgrator({
      migrationPattern: MIGRATIONS,
      driver: 'pg',
      database: connection.database,
      execQuery: async (query) => await client.query(query)
    })
    const applied = await postgrator.migrate()
    for (const migration of applied) {
      log.info({ version: migration.version, name: migration.name }, 'migration applied')
    }
  } finally {
    await client.end()
  }
}
