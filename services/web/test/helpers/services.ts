import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import type { Test } from 'tap'

/**
 * Where the suite finds PostgreSQL and Redis: the same variables as the service,
 * defaulting to the local services (make test points them at compose's instead).
 */
export const services = {
  db: {
    host: process.env.DB_HOST ?? '127.0.0.1',
    port: Number(process.env.DB_PORT ?? 5432),
    user: process.env.DB_USER ?? 'postgres',
    password: process.env.DB_PASSWORD
  },
  redis: {
    host: process.env.REDIS_HOST ?? '127.0.0.1',
    port: Number(process.env.REDIS_PORT ?? 6379),
    password: process.env.REDIS_PASSWORD
  }
}

/** Runs `work` on the maintenance database, where databases are created and dropped. */
export async function withMaintenanceClient<T> (work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...services.db, database: 'postgres', connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** A database of this test file's own, dropped when the test ends. */
export async function createDatabase (t: Test): Promise<string> {
  const name = `web_test_${process.pid}_${randomBytes(4).toString('hex')}`
  await withMaintenanceClient((client) => client.query(`CREATE DATABASE ${name}`))
  t.teardown(() => withMaintenanceClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
  return name
}

/** A client on a database of this test's own, closed when the test ends. */
export async function connectDatabase (t: Test, database: string): Promise<pg.Client> {
  const client = new pg.Client({ ...services.db, database })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

const CLAIM_KEY = 'web-test:claimed-by'

/**
 * A Redis logical database of this test's own. Only an empty one is taken, and
 * the claim is an atomic SET NX, so two test files never share one and nobody
 * else's keys are ever touched; it is flushed when the test ends.
 */
export async function claimRedisDatabase (t: Test): Promise<number> {
  const owner = `${process.pid}-${randomBytes(4).toString('hex')}`
  for (let db = 15; db >= 1; db--) {
    const client = new Redis({ ...services.redis, db, lazyConnect: true, maxRetriesPerRequest: 1 })
    await client.connect()
    try {
      // The claim key stays until the flush, so no other test file sees the database empty.
      if (await client.dbsize() === 0 && await client.set(CLAIM_KEY, owner, 'EX', 600, 'NX') === 'OK') {
        t.teardown(async () => {
          const cleaner = new Redis({ ...services.redis, db })
          await cleaner.flushdb()
          await cleaner.quit()
        })
        return db
      }
    } finally {
      await client.quit()
    }
  }
  throw new Error('no empty Redis logical database (1-15) is free for the tests')
}

/** A client on the test's Redis database, closed when the test ends. */
export function connectRedis (t: Test, db: number): Redis {
  const client = new Redis({ ...services.redis, db })
  t.teardown(() => client.quit())
  return client
}
