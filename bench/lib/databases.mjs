// The bench's own PostgreSQL database and Redis logical DB: created or claimed
// at the start, dropped or flushed at the end.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { Redis } from 'ioredis'
import { PG, REDIS } from './settings.mjs'
import { log, resources } from './state.mjs'

/** Runs `work` with a client connected to `database` and always disconnects it. */
export async function withPg (database, work) {
  const client = new pg.Client({ ...PG, database, application_name: 'bench' })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/** Runs `work` with a Redis client on logical DB `db` and always disconnects it. */
export async function withRedis (db, work) {
  const client = new Redis({ ...REDIS, db, lazyConnect: true, maxRetriesPerRequest: 0 })
  await client.connect()
  try {
    return await work(client)
  } finally {
    client.disconnect()
  }
}

export async function createDatabase () {
  const name = `bench_${randomBytes(4).toString('hex')}`
  await withPg('postgres', (client) => client.query(`CREATE DATABASE ${name}`))
  resources.database = name
  return name
}

export async function dropDatabase () {
  const name = resources.database
  if (name === undefined) return
  // FORCE: a child killed mid-query may leave a backend behind for a moment.
  await withPg('postgres', (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  resources.database = undefined
  log(`dropped database ${name}`)
}

// Checks emptiness and marks the DB as taken in one atomic step, so two runs
// (or a test suite) started together cannot pick the same one.
const CLAIM_IF_EMPTY = "if redis.call('DBSIZE') == 0 then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0"

export async function claimRedisDb () {
  const db = await withRedis(0, async (client) => {
    for (let candidate = 1; candidate <= 15; candidate++) {
      await client.select(candidate)
      if (await client.eval(CLAIM_IF_EMPTY, 1, 'bench:claimed', String(process.pid)) === 1) return candidate
    }
    throw new Error('no empty Redis logical DB among 1..15')
  })
  resources.redisDb = db
  return db
}

export async function flushRedisDb () {
  const db = resources.redisDb
  if (db === undefined) return
  await withRedis(db, (client) => client.flushdb())
  resources.redisDb = undefined
  log(`flushed Redis DB ${db}`)
}
