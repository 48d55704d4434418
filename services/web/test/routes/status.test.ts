import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { connectDatabase, connectRedis } from '../helpers/services.js'

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
