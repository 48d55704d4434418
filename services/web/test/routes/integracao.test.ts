import t from 'tap'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { integracaoResults } from '../helpers/endpoints.js'
import { connectDatabase, connectRedis } from '../helpers/services.js'

t.test('inserts a row and increments its own counter, reporting both operations', async (t) => {
  const { app } = await buildTestApp(t)
  const body = checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)
  t.same(body, {
    status: 'sucesso',
    operacoes: [
      { servico: 'database', acao: 'inserir', status: 'sucesso', acesso_id: 1 },
      { servico: 'cache', acao: 'incrementar_contador', status: 'sucesso', contador: 1 }
    ]
  })
})

t.test('shares the id sequence with /db/test and is counted in its total', async (t) => {
  const { app, config } = await buildTestApp(t)
  checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  const integracao = checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)
  t.equal(integracaoResults(integracao).acessoId, 2)
  const dbTest = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  t.match(dbTest, { acesso_id: 3, total_acessos: 3 })
  const client = await connectDatabase(t, config.DB_NAME)
  const { rows } = await client.query('SELECT endpoint FROM acessos ORDER BY id')
  t.same(rows.map((row) => row.endpoint), ['/db/test', '/integracao', '/db/test'])
})

t.test('its counter moves by one per call and never moves contador_acessos', async (t) => {
  const { app, config } = await buildTestApp(t)
  checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema)
  const first = checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)
  const second = checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)
  t.equal(integracaoResults(first).contador, 1)
  t.equal(integracaoResults(second).contador, 2)
  t.equal(checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema).contador, 2)

  const redis = connectRedis(t, config.REDIS_DB)
  const [counter, stamp] = await redis.mget('integracao_contador', 'integracao_timestamp')
  t.equal(counter, '2')
  t.match(stamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/)
})

t.test('the response is marked not cacheable', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject('/integracao')).headers['cache-control'], 'no-store')
})
