import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { isGone, ownerIn, ownerTag, type Owner } from './owner.js'

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
  const client = new pg.Client({ ...services.db, database: 'postgres' })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

const DATABASE_PREFIX = 'web_test_'

/** A database of this test file's own, named after it (`owner.ts`), dropped when the test ends. */
export async function createDatabase (t: Test): Promise<string> {
  const name = `${DATABASE_PREFIX}${ownerTag()}_${randomBytes(4).toString('hex')}`
  await withMaintenanceClient((client) => client.query(`CREATE DATABASE ${name}`))
  t.teardown(() => dropDatabase(name))
  return name
}

async function dropDatabase (name: string): Promise<void> {
  await withMaintenanceClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
}

/** Drops the test databases whose owner has ended (a run that was killed); returns their names. */
export async function dropOrphanDatabases (): Promise<string[]> {
  const { rows } = await withMaintenanceClient((client) => client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [DATABASE_PREFIX]))
  const orphans = rows.map(({ datname }) => datname).filter((name) => {
    const owner = ownerIn(name.slice(DATABASE_PREFIX.length))
    return owner !== undefined && isGone(owner)
  })
  for (const name of orphans) await dropDatabase(name)
  return orphans
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
 * The claim, atomic: a database is taken when it is empty, or when it holds the
 * claim of an owner that has ended (ARGV[2]), whose keys are then flushed. A
 * database with keys and no claim is somebody else's and is never touched.
 */
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current == false and redis.call('DBSIZE') > 0 then return 0 end
if current ~= false and current ~= ARGV[2] then return 0 end
redis.call('FLUSHDB')
redis.call('SET', KEYS[1], ARGV[1])
return 1`

/** Flushes the database only while it still holds the claim ARGV[1]. */
const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('FLUSHDB')
return 1`

const REDIS_TEST_DATABASES = Array.from({ length: 15 }, (_, index) => 15 - index)

/** Runs `work` on a short-lived Redis client, which `select`s the logical databases it looks at. */
async function withRedis<T> (work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ ...services.redis, lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.quit()
  }
}

/** The claim on `client`'s database when its owner has ended, else ''. */
async function orphanClaim (client: Redis): Promise<string> {
  const claim = await client.get(CLAIM_KEY)
  const owner = claim === null ? undefined : ownerIn(claim)
  return owner !== undefined && isGone(owner) ? claim! : ''
}

/**
 * A Redis logical database (1-15) of this test file's own, claimed in its name
 * (`owner.ts`) and flushed when the test ends; one a killed run left claimed is
 * taken over. Two test files never share one, and nobody else's keys are touched.
 * While running tests hold them all, it waits for one to be given back.
 */
export async function claimRedisDatabase (t: Test): Promise<number> {
  const claim = `${ownerTag()}_${randomBytes(4).toString('hex')}`
  for (;;) {
    let heldByTests = 0
    const claimed = await withRedis(async (client) => {
      for (const db of REDIS_TEST_DATABASES) {
        await client.select(db)
        if (await client.eval(CLAIM, 1, CLAIM_KEY, claim, await orphanClaim(client)) === 1) return db
        if (await client.exists(CLAIM_KEY) === 1) heldByTests++
      }
      return undefined
    })
    if (claimed !== undefined) {
      t.teardown(() => withRedis(async (client) => {
        await client.select(claimed)
        await client.eval(RELEASE, 1, CLAIM_KEY, claim)
      }))
      return claimed
    }
    // Tests that are running give theirs back when they end; keys of anybody else stay.
    if (heldByTests === 0) throw new Error('no Redis logical database (1-15) is free for the tests: each holds keys that are not a test\'s')
    await sleep(100)
  }
}

/** Who claims Redis logical database `db` for a test, if anyone. */
export async function claimant (db: number): Promise<Owner | undefined> {
  return await withRedis(async (client) => {
    await client.select(db)
    const claim = await client.get(CLAIM_KEY)
    return claim === null ? undefined : ownerIn(claim)
  })
}

/** Flushes the Redis databases claimed by an owner that has ended; returns their numbers. */
export async function releaseOrphanRedisDatabases (): Promise<number[]> {
  return await withRedis(async (client) => {
    const released: number[] = []
    for (const db of REDIS_TEST_DATABASES) {
      await client.select(db)
      const orphan = await orphanClaim(client)
      if (orphan !== '' && await client.eval(RELEASE, 1, CLAIM_KEY, orphan) === 1) released.push(db)
    }
    return released
  })
}

/** A client on the test's Redis database, closed when the test ends. */
export function connectRedis (t: Test, db: number): Redis {
  const client = new Redis({ ...services.redis, db })
  t.teardown(() => client.quit())
  return client
}
