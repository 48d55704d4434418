import t from 'tap'
import { Redis } from 'ioredis'
import { statusSchema } from '../../src/routes/status.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { startProxy } from '../helpers/proxy.js'
import { privateRedis } from '../helpers/redis-server.js'
import { connectDatabase, connectRedis, services } from '../helpers/services.js'
import { waitUntil } from '../helpers/timing.js'

t.test('reports the service online and both dependencies connected, with their address', async (t) => {
  const { app, config } = await buildTestApp(t)
  const body = checkBody(t, await app.inject('/'), 200, statusSchema)
  t.match(body, { servico: 'web', status: 'online' })
  t.same(body.servicos, {
    database: { status: 'conectado', host: config.DB_HOST, port: String(config.DB_PORT) },
    cache: { status: 'conectado', host: config.REDIS_HOST, port: String(config.REDIS_PORT) }
  })
})

t.test('stamps the answer with the current UTC time, to the second', async (t) => {
  const { app } = await buildTestApp(t)
  const before = new Date().toISOString().slice(0, 19)
  const body = checkBody(t, await app.inject('/'), 200, statusSchema)
  const after = new Date().toISOString().slice(0, 19)
  t.ok(body.timestamp >= before && body.timestamp <= after, `${body.timestamp} is between ${before} and ${after}`)
})

t.test('answers HEAD without a body and without writing anything', async (t) => {
  const { app, config } = await buildTestApp(t)
  const response = await app.inject({ method: 'HEAD', url: '/' })
  t.equal(response.statusCode, 200)
  t.equal(response.body, '')
  const client = await connectDatabase(t, config.DB_NAME)
  t.same((await client.query('SELECT count(*)::int AS count FROM acessos')).rows, [{ count: 0 }])
  const redis = connectRedis(t, config.REDIS_DB)
  t.same(await redis.mget('contador_acessos', 'integracao_contador'), [null, null])
})

t.test('the requests of one event-loop turn share one live round trip to each dependency', async (t) => {
  const redis = await privateRedis(t, [])
  await redis.start()
  const proxy = await startProxy(t, services.db)
  const { app } = await buildTestApp(t, { DB_PORT: String(proxy.port), REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_DB: '0' })
  const direct = new Redis({ host: '127.0.0.1', port: redis.port })
  t.teardown(() => direct.quit())
  const pings = async () => Number(/cmdstat_ping:calls=(\d+)/.exec(await direct.info('commandstats'))?.[1] ?? 0)
  const pingsBefore = await pings()

  // PostgreSQL frozen, so the pool shows every query sent and still waiting for its answer.
  proxy.freeze()
  const responses = Promise.all(Array.from({ length: 10 }, () => app.inject('/')))
  await waitUntil(() => app.postgresPool.stats().connections > 0, 'a query sent')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(app.postgresPool.stats(), { connections: 1, idle: 0, waiting: 0 }, 'one SELECT 1 for the ten requests')
  await proxy.restore()
  for (const response of await responses) {
    t.match(checkBody(t, response, 200, statusSchema).servicos, { database: { status: 'conectado' }, cache: { status: 'conectado' } })
  }
  t.equal(await pings() - pingsBefore, 1, 'one PING for the ten requests')
})

t.test('a request arriving while a round trip is under way gets one of its own, and its outcome', async (t) => {
  const proxy = await startProxy(t, services.db)
  const { app, config } = await buildTestApp(t, { DB_PORT: String(proxy.port) })
  checkBody(t, await app.inject('/'), 200, statusSchema)
  // The early request's SELECT 1 leaves on the pool's one connection and is held by the proxy.
  proxy.freeze()
  const early = app.inject('/')
  await waitUntil(() => app.postgresPool.stats().idle === 0, 'the first SELECT 1 sent')
  const late = app.inject('/')
  await waitUntil(() => app.postgresPool.stats().connections === 2, 'a second SELECT 1 for the later request')
  // PostgreSQL ends the early round trip's connection: only the late one's succeeds.
  const admin = await connectDatabase(t, config.DB_NAME)
  const { rowCount } = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web'", [config.DB_NAME])
  t.equal(rowCount, 1, 'the early round trip\'s connection ended')
  await proxy.restore()
  t.match(checkBody(t, await early, 200, statusSchema).servicos.database, { status: 'desconectado' }, 'the early request gets the failed round trip')
  t.match(checkBody(t, await late, 200, statusSchema).servicos.database, { status: 'conectado' }, 'the late request gets its own, which succeeded')
})
