import t from 'tap'
import { dbTestSchema } from '../src/routes/db.js'
import { buildTestApp, checkBody } from './helpers/app.js'
import { fetchResponse } from './helpers/server.js'
import { connectDatabase, connectRedis } from './helpers/services.js'
import { endpoints } from './helpers/endpoints.js'

const REQUESTS = 500

const oneTo = (count: number) => Array.from({ length: count }, (_, index) => index + 1)

t.test(`${REQUESTS} concurrent requests over HTTP, mixed across the four endpoints`, async (t) => {
  const { app, config } = await buildTestApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const sent = Array.from({ length: REQUESTS }, (_, index) => endpoints[index % endpoints.length]!)
  const answers = await Promise.all(sent.map(async (endpoint) =>
    ({ endpoint, response: await fetchResponse(`http://127.0.0.1:${port}${endpoint.url}`) })))
  const bodies = (url: string) => answers.filter(({ endpoint }) => endpoint.url === url)
    .map(({ endpoint, response }) => checkBody(t, response, 200, endpoint.schema))

  await t.test('every one of them is answered 200', async (t) => {
    t.same(answers.filter(({ response }) => response.statusCode !== 200).map(({ endpoint, response }) => `${endpoint.url} ${response.statusCode}`), [])
  })

  const dbTests = bodies('/db/test')
  const integracoes = bodies('/integracao')
  const client = await connectDatabase(t, config.DB_NAME)
  const rows = (await client.query<{ id: number, endpoint: string }>('SELECT id, endpoint FROM acessos ORDER BY id')).rows

  await t.test('every insert answered is in the table, and nothing else', async (t) => {
    const answered = [
      ...dbTests.map((body) => ({ id: body.acesso_id, endpoint: '/db/test' })),
      ...integracoes.map((body) => ({ id: body.operacoes[0].acesso_id, endpoint: '/integracao' }))
    ].sort((a, b) => a.id - b.id)
    t.equal(rows.length, answered.length, 'rows == successful inserts')
    t.same(rows, answered)
  })

  await t.test('the ids are distinct', async (t) => {
    t.equal(new Set(rows.map((row) => row.id)).size, rows.length)
  })

  await t.test('no total_acessos exceeds the rows, and the next call counts exactly one more than them', async (t) => {
    t.ok(Math.max(...dbTests.map((body) => body.total_acessos)) <= rows.length)
    t.match(checkBody(t, await app.inject('/db/test'), 200, dbTestSchema), { total_acessos: rows.length + 1 })
  })

  await t.test('contador values are distinct and contiguous, and so are integracao_contador\'s', async (t) => {
    const contadores = bodies('/cache/test').map((body) => body.contador as number).sort((a, b) => a - b)
    t.same(contadores, oneTo(contadores.length))
    const integracaoContadores = integracoes.map((body) => body.operacoes[1].contador as number).sort((a, b) => a - b)
    t.same(integracaoContadores, oneTo(integracaoContadores.length))
    const redis = connectRedis(t, config.REDIS_DB)
    t.same(await redis.mget('contador_acessos', 'integracao_contador'), [String(contadores.length), String(integracaoContadores.length)])
  })
})
