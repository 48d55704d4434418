import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { dependencyFailed, statusPingFailed } from '../../src/messages.js'
import { buildAppOn, checkBody, isolatedEnv, respondedInMs } from '../helpers/app.js'
import { startProxy, type Proxy } from '../helpers/proxy.js'
import { fetchResponse as get, startServer } from '../helpers/server.js'
import { connectDatabase, services } from '../helpers/services.js'
import { statusWithinMs, timed, waitUntil } from '../helpers/timing.js'
import { MIGRATION_LOCK } from '../../src/plugins/external/migrations.js'

// The start must not wait on the dependencies: a client waiting for `ready`
// would hold it for ever, or until Fastify's plugin timeout fails it. How long
// loading the modules takes depends on the machine, so no duration is asserted.
// Each start has its own proxies, server, database and Redis DB, and mostly waits.
t.jobs = 3

// The bound on `/` holds whatever the dependency timeout is set to. A server
// starting degraded shares the machine with the other starts, so the bound is
// checked on a timeout long enough that a starved event loop's delay stays well
// inside the second half.
const TIMEOUT_MS = 3000
const STATUS_WITHIN_MS = statusWithinMs(TIMEOUT_MS)

const outages = [
  { name: 'stopped', start: async (proxy: Proxy) => await proxy.refuse() },
  { name: 'frozen', start: async (proxy: Proxy) => proxy.freeze() }
] as const

for (const outage of outages) {
  t.test(`with PostgreSQL and Redis both ${outage.name} at start`, async (t) => {
    const env = await isolatedEnv(t)
    const [db, cache] = await Promise.all([startProxy(t, services.db), startProxy(t, services.redis)])
    await Promise.all([outage.start(db), outage.start(cache)])

    const { result: server, ms } = await timed(async () =>
      await startServer(t, { ...env, DEPENDENCY_TIMEOUT_MS: String(TIMEOUT_MS), DB_PORT: String(db.port), REDIS_PORT: String(cache.port) }))

    await t.test('node dist/server.js still starts and listens, both still down', async (t) => {
      t.equal(server.child.exitCode, null, `listening after ${Math.round(ms)} ms, running`)
    })

    await t.test(`/ answers 200 within twice the dependency timeout (${STATUS_WITHIN_MS} ms) with both desconectado`, async (t) => {
      const response = await get(`${server.url}/`)
      // Timed by the server, which does nothing else, not by this process, which runs other tests beside.
      const ms = await respondedInMs(server.logs, response)
      t.ok(ms < STATUS_WITHIN_MS, `answered in ${Math.round(ms)} ms`)
      const body = checkBody(t, response, 200, statusSchema)
      t.match(body.servicos, {
        database: { status: 'desconectado', erro: statusPingFailed.database },
        cache: { status: 'desconectado', erro: statusPingFailed.cache }
      })
    })

    await t.test('the endpoints that need them answer the documented 503', async (t) => {
      t.same(checkBody(t, await get(`${server.url}/db/test`), 503, dbTestSchema), { status: 'erro', erro: dependencyFailed.database })
      t.same(checkBody(t, await get(`${server.url}/cache/test`), 503, cacheTestSchema), { status: 'erro', erro: dependencyFailed.cache })
      t.equal(checkBody(t, await get(`${server.url}/integracao`), 503, integracaoSchema).status, 'erro')
    })

    // Where the log stood when both came back.
    let restoredAt = 0

    await t.test('once both are back, every endpoint works, without a restart', async (t) => {
      // Long enough for several migration and reconnection attempts.
      await sleep(2000)
      restoredAt = server.logs().length
      await Promise.all([db.restore(), cache.restore()])
      const elapsed = await waitUntil(async () => (await get(`${server.url}/integracao`)).statusCode === 200, '200 on /integracao')
      t.comment(`first 200 on /integracao ${Math.round(elapsed)} ms after both came back`)
      checkBody(t, await get(`${server.url}/db/test`), 200, dbTestSchema)
      t.match(checkBody(t, await get(`${server.url}/cache/test`), 200, cacheTestSchema), { contador: 1 })
      t.match(checkBody(t, await get(`${server.url}/`), 200, statusSchema).servicos, {
        database: { status: 'conectado' },
        cache: { status: 'conectado' }
      })
      t.equal(server.child.exitCode, null, 'the same process')
    })

    await t.test('the migrations were applied once PostgreSQL was back', async (t) => {
      const applied = server.logs().filter((line) => line.msg === 'migration applied')
      t.same(applied.map((line) => line.version), [1, 2])
    })

    // Only the outage is counted: on a starved machine a query after the return may
    // outlast the timeout, which is another outage.
    await t.test('logged one warning per dependency while retrying, and one info when each came back', async (t) => {
      const lines = server.logs()
      for (const name of ['PostgreSQL', 'Redis']) {
        const about = (line: Record<string, unknown>) => line.msg === `${name} is unavailable` || line.msg === `${name} is available`
        t.same(lines.slice(0, restoredAt).filter(about).map((line) => line.msg), [`${name} is unavailable`], `${name}: one warning`)
        t.equal(lines.slice(restoredAt).find(about)?.msg, `${name} is available`, `${name}: then one info`)
      }
    })
  })
}

t.test('migrations started while PostgreSQL was down wait for the lock another replica holds', async (t) => {
  const env = await isolatedEnv(t)
  const db = await startProxy(t, services.db)
  await db.refuse()
  const { app, logs } = await buildAppOn(t, { ...env, DB_PORT: String(db.port) })

  const replica = await connectDatabase(t, env.DB_NAME!)
  await replica.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
  await db.restore()
  // A retry reaches PostgreSQL and queues on the lock (or, without the lock, migrates).
  const applied = () => logs.some((line) => line.msg === 'migration applied')
  await waitUntil(async () => applied() || (await replica.query(
    "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web-migrations' AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
    [env.DB_NAME]
  )).rowCount === 1, 'the migrations wait for the lock')
  t.notOk(applied(), 'nothing applied while the lock is held')
  t.equal((await app.inject('/db/test')).statusCode, 503)

  await replica.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
  const elapsed = await waitUntil(async () => (await app.inject('/db/test')).statusCode === 200, '200 on /db/test')
  t.comment(`first 200 on /db/test ${Math.round(elapsed)} ms after the lock was released`)
  t.same(logs.filter((line) => line.msg === 'migration applied').map((line) => line.version), [1, 2])
})
