// Runs once before the suite (.taprc `before`): when PostgreSQL or Redis cannot
// be reached, say which and where, instead of a hundred connection errors; then
// drop what killed runs left behind, which would otherwise pile up.
import pg from 'pg'
import { Redis } from 'ioredis'
import { killOrphanProcesses, removeOrphanTempDirs } from './helpers/owner.js'
import { dropOrphanDatabases, releaseOrphanRedisDatabases, services } from './helpers/services.js'

async function reach (what: string, where: string, probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe()
    return undefined
  } catch (error) {
    return `${what} is not reachable at ${where}: ${(error as Error).message}`
  }
}

const problems = (await Promise.all([
  reach('PostgreSQL', `${services.db.host}:${services.db.port} (user ${services.db.user})`, async () => {
    const client = new pg.Client({ ...services.db, database: 'postgres', connectionTimeoutMillis: 3000 })
    await client.connect()
    await client.end()
  }),
  reach('Redis', `${services.redis.host}:${services.redis.port}`, async () => {
    const client = new Redis({ ...services.redis, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await client.connect()
      await client.ping()
    } finally {
      client.disconnect()
    }
  })
])).filter((problem) => problem !== undefined)

if (problems.length > 0) {
  console.error(`The tests need PostgreSQL and Redis.\n${problems.join('\n')}\n` +
    'Start PostgreSQL and Redis, or point DB_HOST/DB_PORT/DB_USER/DB_PASSWORD and REDIS_HOST/REDIS_PORT/REDIS_PASSWORD at them.')
  process.exit(1)
}

// Processes first: an orphaned server holds connections to its database.
const killed = await killOrphanProcesses()
const [databases, redisDatabases, tempDirs] = await Promise.all([dropOrphanDatabases(), releaseOrphanRedisDatabases(), removeOrphanTempDirs()])
if (killed.length + databases.length + redisDatabases.length + tempDirs.length > 0) {
  console.error(`Left by killed test runs, now dropped: ${killed.length} processes, ${databases.length} databases, ` +
    `${redisDatabases.length} Redis databases, ${tempDirs.length} temporary folders.`)
}
