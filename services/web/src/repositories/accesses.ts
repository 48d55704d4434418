import fp from 'fastify-plugin'
import type pg from 'pg'
import { DependencyUnavailable } from '../errors/dependency-unavailable.js'
import { GroupCommit, type Counted, type InsertedRow } from './group-commit.js'

/** The `acessos` table: the only place its SQL is written. */
interface Accesses {
  /** Inserts one row for `/integracao`, stamped now in UTC; its id once committed. */
  record: (endpoint: '/integracao') => Promise<number>
  /** Inserts one row for `/db/test`; its id and the exact row count read after it committed. */
  recordAndCount: (endpoint: '/db/test') => Promise<Counted>
}

declare module 'fastify' {
  interface FastifyInstance {
    accesses: Accesses
  }
}

export default fp(async function accesses (fastify) {
  const { postgresPool, migrations, config } = fastify

  async function query<R extends pg.QueryResultRow> (query: pg.QueryConfig): Promise<R[]> {
    if (!migrations.applied) throw new DependencyUnavailable('database', new Error('database schema is not migrated yet'))
    try {
      return await postgresPool.query<R>(query)
    } catch (err) {
      throw new DependencyUnavailable('database', err)
    }
  }

  const groups = new GroupCommit(
    async (endpoints) => await query<InsertedRow>({
      name: 'record-accesses',
      text: 'INSERT INTO acessos (endpoint) SELECT unnest($1::text[]) RETURNING id, endpoint',
      values: [endpoints]
    }),
    async () => {
      const [row] = await query<{ total: string }>({
        name: 'count-accesses',
        text: 'SELECT sum(total)::bigint AS total FROM acessos_contagem'
      })
      return Number(row!.total)
    },
    // Half the pool at most: the other half stays free for the pings of / and the health checks.
    Math.max(1, Math.floor(config.DB_POOL_MAX / 2))
  )

  fastify.decorate<Accesses>('accesses', {
    record: async (endpoint) => await groups.add(endpoint),
    recordAndCount: async (endpoint) => await groups.addCounted(endpoint)
  })
}, { name: 'accesses', dependencies: ['errors', 'postgres-pool', 'migrations'], decorators: { fastify: ['config'] } })
