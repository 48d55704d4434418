import { readdir } from 'node:fs/promises'
import t from 'tap'
import { Redis } from 'ioredis'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { dependencyFailed } from '../../src/messages.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { integracaoResults } from '../helpers/endpoints.js'
import { cacheServerFlags } from '../helpers/compose.js'
import { privateRedis } from '../helpers/redis-server.js'
import { waitUntil } from '../helpers/timing.js'

t.test('Redis started with compose\'s flags keeps the counters across a graceful stop and restart', async (t) => {
  const flags = await cacheServerFlags()
  t.comment(`compose starts redis-server with: ${flags.join(' ')}`)
  const redis = await privateRedis(t, flags)
  await redis.start()
  const { app } = await buildTestApp(t, { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_DB: '0' })

  const cacheTests = await Promise.all(Array.from({ length: 60 }, () => app.inject('/cache/test')))
  const integracoes = await Promise.all(Array.from({ length: 25 }, () => app.inject('/integracao')))
  for (const response of cacheTests) checkBody(t, response, 200, cacheTestSchema)
  for (const response of integracoes) checkBody(t, response, 200, integracaoSchema)
  const lastStamp = checkBody(t, await app.inject('/cache/test'), 200, cacheTestSchema).ultimo_acesso

  await redis.shutdown()
  t.same(checkBody(t, await app.inject('/cache/test'), 503, cacheTestSchema), { status: 'erro', erro: dependencyFailed.cache })
  await redis.start()
  // No RDB snapshot is ever written (save ""): the data can only come back from the append-only file.
  t.same((await readdir(redis.dir)).sort(), ['appendonlydir'])

  const direct = new Redis({ host: '127.0.0.1', port: redis.port })
  t.teardown(() => direct.quit())
  t.same(await direct.mget('contador_acessos', 'ultimo_acesso', 'integracao_contador'), ['61', lastStamp, '25'])

  // The service reconnects by itself and counts on from where it was, although the
  // restarted Redis no longer knows the counters' script (EVALSHA gets NOSCRIPT).
  const ms = await waitUntil(async () => (await app.inject('/cache/test')).statusCode === 200, '200 on /cache/test')
  t.comment(`first 200 on /cache/test ${Math.round(ms)} ms after Redis was back`)
  t.same(await direct.mget('contador_acessos', 'integracao_contador'), ['62', '25'])
  t.equal(integracaoResults(checkBody(t, await app.inject('/integracao'), 200, integracaoSchema)).contador, 26)
})
