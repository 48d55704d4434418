import fp from 'fastify-plugin'
import type pg from 'pg'
import { DependencyUnavailable } from './errors.js'

/** The `acessos` table: the only place its SQL is written. */
export interface Accesses {
  /** Inserts one row for `endpoint`, stamped now in UTC, and returns its id. */
  record: (endpoint: '/db/test' | '/integracao') => Promise<number>
  /** The exact number of rows in `acessos`, read from the trigger-kept counter. */
  count: () => Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance {
    accesses: Accesses
  }
}

export default fp(async function accesses (fastify) {
  const { postgresPool, migrations } = fastify

  /** Runs a query once the schema exists; any failure is the database being unavailable. */
  async function query<R extends pg.QueryResultRow> (query: pg.QueryConfig): Promise<R[]> {
    if (!migrations.applied) throw new DependencyUnavailable('database', new Error('database schema is not migrated yet'))
    try {
      return await postgresPool.query<R>(query)
    } catch (err) {
      throw new DependencyUnavailable('database', err)
    }
  }

  fastify.decorate<Accesses>('accesses', {
    async record (endpoint) {
      const [row] = await query<{ id: number }>({
        name: 'record-access',
        text: 'INSERT INTO acessos (endpoint) VALUES ($1) RETURNING id',
        values: [endpoint]
      })
      return row!.id
    },
    async count () {
      const [row] = await query<{ total: string }>({
        name: 'count-accesses',
        text: 'SELECT sum(total)::bigint AS total FROM acessos_contagem'
      })
      return Number(row!.total)
    }
  })
}, { name: 'accesses', dependencies: ['errors', 'postgres-pool', 'migrations'] })
