import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { dependencyFailed, statusPingFailed } from '../../src/messages.js'
import { buildTestApp, checkBody, level, respondedInMs, type TestApp } from '../helpers/app.js'
import { startProxy, type Proxy } from '../helpers/proxy.js'
import { connectDatabase, services } from '../helpers/services.js'
import { DOCUMENTED_TIMEOUT, ERROR_WITHIN_MS, STATUS_WITHIN_MS, waitUntil } from '../helpers/timing.js'

// One outage at a time, although each mostly waits on timeouts: the bounds below
// are the app's own responseTime, and another outage's app starting would hold
// the event loop they share.

const dependencies = [
  {
    name: 'PostgreSQL',
    target: services.db,
    portVariable: 'DB_PORT',
    endpoint: '/db/test',
    schema: dbTestSchema,
    erro: dependencyFailed.database,
    statusKey: 'database',
    statusErro: statusPingFailed.database,
    operation: 0,
    other: { endpoint: '/cache/test', schema: cacheTestSchema, statusKey: 'cache', operation: 1 }
  },
  {
    name: 'Redis',
    target: services.redis,
    portVariable: 'REDIS_PORT',
    endpoint: '/cache/test',
    schema: cacheTestSchema,
    erro: dependencyFailed.cache,
    statusKey: 'cache',
    statusErro: statusPingFailed.cache,
    operation: 1,
    other: { endpoint: '/db/test', schema: dbTestSchema, statusKey: 'database', operation: 0 }
  }
] as const

// The outage warning names what went wrong on the network, not the state a
// driver was left in ("Stream isn't writeable …").
const outages = [
  { name: 'stopped (connections refused)', start: async (proxy: Proxy) => await proxy.refuse(), cause: /ECONNREFUSED|ECONNRESET|EPIPE|Connection terminated unexpectedly/ },
  { name: 'frozen (connects, never answers)', start: async (proxy: Proxy) => proxy.freeze(), cause: /time(d)? ?out/i }
] as const

const answersOk = (app: TestApp['app'], url: string) => async () => (await app.inject(url)).statusCode === 200

const linesSince = (logs: TestApp['logs'], from: number, atLevel: number, msg: string) =>
  logs.slice(from).filter((line) => line.level === atLevel && line.msg === msg)

for (const dependency of dependencies) {
  for (const outage of outages) {
    t.test(`with ${dependency.name} ${outage.name}`, async (t) => {
      const proxy = await startProxy(t, dependency.target)
      const { app, logs } = await buildTestApp(t, { ...DOCUMENTED_TIMEOUT, [dependency.portVariable]: String(proxy.port) })
      // Idle pool clients and a ready Redis connection are what an outage breaks.
      for (const url of ['/db/test', '/cache/test', '/integracao']) await waitUntil(answersOk(app, url), url)
      const outageStart = logs.length
      await outage.start(proxy)

      await t.test(`${dependency.endpoint} answers the documented 503 within ${ERROR_WITHIN_MS} ms, also under a burst`, async (t) => {
        const burst = await Promise.all(Array.from({ length: 20 }, () => app.inject(dependency.endpoint)))
        for (const response of burst) {
          t.same(checkBody(t, response, 503, dependency.schema), { status: 'erro', erro: dependency.erro })
        }
        const slowest = Math.max(...await Promise.all(burst.map(async (response) => await respondedInMs(() => logs, response))))
        t.ok(slowest < ERROR_WITHIN_MS, `the slowest answered in ${Math.round(slowest)} ms`)
      })

      await t.test(`/ answers 200 within ${STATUS_WITHIN_MS} ms with ${dependency.name} desconectado`, async (t) => {
        const response = await app.inject('/')
        const ms = await respondedInMs(() => logs, response)
        t.ok(ms < STATUS_WITHIN_MS, `answered in ${Math.round(ms)} ms`)
        const body = checkBody(t, response, 200, statusSchema)
        t.same(body.servicos[dependency.statusKey], {
          status: 'desconectado',
          host: '127.0.0.1',
          port: String(proxy.port),
          erro: dependency.statusErro
        })
        t.equal(body.servicos[dependency.other.statusKey].status, 'conectado')
      })

      await t.test(`${dependency.other.endpoint}, which does not need ${dependency.name}, keeps working`, async (t) => {
        checkBody(t, await app.inject(dependency.other.endpoint), 200, dependency.other.schema)
      })

      await t.test('/integracao answers 503, its failing operation in error and the other one done', async (t) => {
        const response = await app.inject('/integracao')
        const ms = await respondedInMs(() => logs, response)
        t.ok(ms < ERROR_WITHIN_MS, `answered in ${Math.round(ms)} ms`)
        const body = checkBody(t, response, 503, integracaoSchema)
        t.equal(body.status, 'erro')
        t.match(body.operacoes[dependency.operation], { status: 'erro', erro: dependency.erro })
        t.match(body.operacoes[dependency.other.operation], { status: 'sucesso' })
      })

      // Redis reconnects with a capped back-off, PostgreSQL on the next request; how
      // soon depends on the machine, so only the recovery itself is asserted.
      await t.test(`recovers by itself once ${dependency.name} is back`, async (t) => {
        // A little longer out, so Redis's reconnect back-off has grown.
        await sleep(1000)
        await proxy.restore()
        const ms = await waitUntil(answersOk(app, dependency.endpoint), `200 on ${dependency.endpoint}`)
        t.comment(`first 200 on ${dependency.endpoint} ${Math.round(ms)} ms after ${dependency.name} came back`)
        checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)
        const body = checkBody(t, await app.inject('/'), 200, statusSchema)
        t.equal(body.servicos[dependency.statusKey].status, 'conectado')
      })

      await t.test('logs one warning with the cause when it went away and one info when it came back', async (t) => {
        const warnings = linesSince(logs, outageStart, level.warn, `${dependency.name} is unavailable`)
        t.equal(warnings.length, 1, 'one warning, not one per failed call or retry')
        t.match(warnings[0], { err: { message: outage.cause } }, 'the warning names the cause')
        t.equal(linesSince(logs, outageStart, level.info, `${dependency.name} is available`).length, 1)
      })
    })
  }
}

t.test('PostgreSQL killing the idle pool connections, as a restart does, crashes nothing and the next request gets a fresh one', async (t) => {
  const { app, config, logs } = await buildTestApp(t)
  // Ten queries at once, each on a connection of its own (requests would not do:
  // the pings of a turn share one query, a burst of inserts is one group).
  await Promise.all(Array.from({ length: 10 }, async () => await app.postgresPool.query({ text: 'SELECT pg_sleep(0.05)' })))
  const { idle } = app.postgresPool.stats()
  t.ok(idle > 1, `${idle} idle pool clients`)

  const admin = await connectDatabase(t, config.DB_NAME)
  await admin.query(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web'",
    [config.DB_NAME]
  )
  await waitUntil(() => app.postgresPool.stats().idle === 0, 'the pool drops its killed clients')

  const killed = logs.length
  checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  const warnings = linesSince(logs, 0, level.warn, 'PostgreSQL is unavailable')
  t.equal(warnings.length, 1, 'one warning for all the killed clients')
  t.match(warnings[0], { err: { message: /terminating connection due to administrator command/ } })
  t.equal(linesSince(logs, killed, level.info, 'PostgreSQL is available').length, 1, 'one info once connected again')
})

t.test('a query answered after PostgreSQL was seen failing does not mark it available again, so the outage logs one warning', async (t) => {
  const { app, config, logs } = await buildTestApp(t)
  // Two pool connections: one for the query held across the failure, one idle for PostgreSQL to kill.
  await Promise.all(Array.from({ length: 2 }, async () => await app.postgresPool.query({ text: 'SELECT pg_sleep(0.05)' })))
  const admin = await connectDatabase(t, config.DB_NAME)
  const webBackends = async (state: string) => (await admin.query(
    "SELECT pid, wait_event_type FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' AND state = $2",
    [config.DB_NAME, state]
  )).rows

  // Begun while PostgreSQL answers, held by a lock until after the failure.
  await admin.query('SELECT pg_advisory_lock(28)')
  const held = app.postgresPool.query({ text: 'SELECT pg_advisory_xact_lock(28)' })
  await waitUntil(async () => (await webBackends('active')).some((row) => row.wait_event_type === 'Lock'), 'the query waits for the lock')

  const failed = logs.length
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' AND state = 'idle'", [config.DB_NAME])
  await waitUntil(() => linesSince(logs, failed, level.warn, 'PostgreSQL is unavailable').length === 1, 'the failure is seen')

  await admin.query('SELECT pg_advisory_unlock(28)')
  await held
  t.same(linesSince(logs, failed, level.info, 'PostgreSQL is available'), [], 'the late answer does not mark PostgreSQL available')

  await app.postgresPool.query({ text: 'SELECT 1' })
  t.equal(linesSince(logs, failed, level.info, 'PostgreSQL is available').length, 1, 'a query begun after the failure does')
  t.equal(linesSince(logs, failed, level.warn, 'PostgreSQL is unavailable').length, 1, 'one warning')
})
