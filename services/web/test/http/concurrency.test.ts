import t from 'tap'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { buildTestApp, checkBody, type Response } from '../helpers/app.js'
import { fetchResponse } from '../helpers/server.js'
import { connectDatabase, connectRedis } from '../helpers/services.js'
import { endpoints, integracaoResults } from '../helpers/endpoints.js'

const REQUESTS = 500
const DB_TEST_BURST = 60

const oneTo = (count: number) => Array.from({ length: count }, (_, index) => index + 1)

t.test(`${REQUESTS} concurrent requests over HTTP, mixed across the four endpoints`, async (t) => {
  const { app, config } = await buildTestApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const get = async (url: string) => await fetchResponse(`http://127.0.0.1:${port}${url}`)

  const sent = Array.from({ length: REQUESTS }, (_, index) => endpoints[index % endpoints.length]!.url)
  const answers = await Promise.all(sent.map(async (url) => ({ url, response: await get(url) })))
  const responses = (url: string): Response[] => answers.filter((answer) => answer.url === url).map(({ response }) => response)

  await t.test('every one of them is answered 200', async (t) => {
    t.same(answers.filter(({ response }) => response.statusCode !== 200).map(({ url, response }) => `${url} ${response.statusCode}`), [])
  })

  const dbTests = responses('/db/test').map((response) => checkBody(t, response, 200, dbTestSchema))
  const integracoes = responses('/integracao').map((response) => integracaoResults(checkBody(t, response, 200, integracaoSchema)))
  const client = await connectDatabase(t, config.DB_NAME)
  const rows = (await client.query<{ id: number, endpoint: string }>('SELECT id, endpoint FROM acessos ORDER BY id')).rows

  await t.test('every answered id is distinct and is the row its endpoint inserted, and the table holds nothing else', async (t) => {
    // A PRIMARY KEY keeps the rows distinct; only this shows each answer names its own row.
    const answered = [
      ...dbTests.map((body) => ({ id: body.acesso_id, endpoint: '/db/test' })),
      ...integracoes.map(({ acessoId }) => ({ id: acessoId, endpoint: '/integracao' }))
    ].sort((a, b) => a.id - b.id)
    t.equal(new Set(answered.map(({ id }) => id)).size, answered.length, 'no two answers name the same id')
    t.same(rows, answered, 'rows == the answered inserts, each under the endpoint that answered it')
  })

  await t.test('no total_acessos exceeds the rows, and the next call counts exactly one more than them', async (t) => {
    t.ok(Math.max(...dbTests.map((body) => body.total_acessos)) <= rows.length)
    t.match(checkBody(t, await app.inject('/db/test'), 200, dbTestSchema), { total_acessos: rows.length + 1 })
  })

  await t.test(`after a burst of ${DB_TEST_BURST} more, the next total is the highest total so far plus one`, async (t) => {
    const burst = await Promise.all(Array.from({ length: DB_TEST_BURST }, async () => await get('/db/test')))
    const highest = Math.max(...burst.map((response) => checkBody(t, response, 200, dbTestSchema).total_acessos))
    t.equal(highest, rows.length + 1 + DB_TEST_BURST, 'the highest total counts every row')
    t.equal(checkBody(t, await get('/db/test'), 200, dbTestSchema).total_acessos, highest + 1)
  })

  await t.test('contador values are distinct and contiguous, and so are integracao_contador\'s', async (t) => {
    const contadores = responses('/cache/test').map((response) => checkBody(t, response, 200, cacheTestSchema).contador).sort((a, b) => a - b)
    t.same(contadores, oneTo(contadores.length))
    const integracaoContadores = integracoes.map(({ contador }) => contador).sort((a, b) => a - b)
    t.same(integracaoContadores, oneTo(integracaoContadores.length))
    const redis = connectRedis(t, config.REDIS_DB)
    t.same(await redis.mget('contador_acessos', 'integracao_contador'), [String(contadores.length), String(integracaoContadores.length)])
  })
})
