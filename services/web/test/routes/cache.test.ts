import t from 'tap'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { connectRedis } from '../helpers/services.js'

t.test('the first call counts 1 and returns the timestamp it stored', async (t) => {
  const { app, config } = await buildTestApp(t)
  const body = checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema)
  t.match(body, { status: 'sucesso', contador: 1, mensagem: 'Cache funcionando corretamente' })
  const redis = connectRedis(t, config.REDIS_DB)
  t.same(await redis.mget('contador_acessos', 'ultimo_acesso'), ['1', body.ultimo_acesso])
})

t.test('each call increments contador by exactly one', async (t) => {
  const { app } = await buildTestApp(t)
  const counts: number[] = []
  for (let call = 0; call < 5; call++) {
    counts.push(checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema).contador)
  }
  t.same(counts, [1, 2, 3, 4, 5])
})

t.test('concurrent calls get distinct, contiguous counts', async (t) => {
  const { app } = await buildTestApp(t)
  const responses = await Promise.all(Array.from({ length: 100 }, () => app.inject('/cache/test')))
  const counts = responses.map((response) => checkBody(t, response, 200, cacheTestSchema).contador)
  t.same(counts.sort((a, b) => a - b), Array.from({ length: 100 }, (_, index) => index + 1))
})

t.test('continues the counter an older deployment left in Redis', async (t) => {
  const { app, config } = await buildTestApp(t)
  await connectRedis(t, config.REDIS_DB).set('contador_acessos', '41')
  t.equal(checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema).contador, 42)
})

t.test('the response is marked not cacheable', async (t) => {
  const { app } = await buildTestApp(t)
  t.equal((await app.inject('/cache/test')).headers['cache-control'], 'no-store')
})

t.test('a counter Redis cannot increment answers the documented 503, and the cause goes to the log', async (t) => {
  const { app, config, logs } = await buildTestApp(t)
  const redis = connectRedis(t, config.REDIS_DB)
  await redis.set('contador_acessos', 'not a number')
  t.same(checkBody(t, await app.inject('/cache/test'), 503, cacheTestSchema), { status: 'erro', erro: 'Não foi possível conectar ao Redis' })
  t.match(logs.find((line) => line.msg === 'Redis request failed'), { err: { message: /not an integer/ } })
  t.same(await redis.mget('contador_acessos', 'ultimo_acesso'), ['not a number', null], 'no timestamp stored for an access not counted')
})
