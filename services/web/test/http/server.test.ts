import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { checkBody, isolatedEnv } from '../helpers/app.js'
import { fetchResponse, startServer } from '../helpers/server.js'
import { UNHURRIED } from '../helpers/timing.js'

// The built server, started as the container starts it, over real HTTP.

t.test('node dist/server.js serves the contract over HTTP', async (t) => {
  const server = await startServer(t, { ...await isolatedEnv(t), ...UNHURRIED })

  t.test('GET /', async (t) => {
    checkBody(t, await fetchResponse(`${server.url}/`), 200, statusSchema)
  })
  t.test('GET /db/test', async (t) => {
    t.match(checkBody(t, await fetchResponse(`${server.url}/db/test`), 200, dbTestSchema), { acesso_id: 1, total_acessos: 1 })
  })
  t.test('GET /cache/test', async (t) => {
    t.match(checkBody(t, await fetchResponse(`${server.url}/cache/test`), 200, cacheTestSchema), { contador: 1 })
  })
  t.test('GET /integracao', async (t) => {
    checkBody(t, await fetchResponse(`${server.url}/integracao`), 200, integracaoSchema)
  })
  t.test('an unknown route', async (t) => {
    const response = await fetchResponse(`${server.url}/nada`)
    t.equal(response.statusCode, 404)
    t.same(JSON.parse(response.body), { status: 'erro', erro: 'Rota não encontrada' })
  })
  t.test('an unknown method on a known route', async (t) => {
    const response = await fetchResponse(`${server.url}/db/test`, { method: 'POST' })
    t.equal(response.statusCode, 404)
    t.same(JSON.parse(response.body), { status: 'erro', erro: 'Rota não encontrada' })
  })
  t.test('a request id is generated and echoed', async (t) => {
    t.match((await fetchResponse(`${server.url}/`)).headers['x-request-id'], /^[0-9a-f-]{36}$/)
  })
})

t.test('node dist/server.js refuses to start on a malformed setting, naming it', async (t) => {
  const server = startServer(t, { ...await isolatedEnv(t), DB_PORT: 'five' })
  await t.rejects(server, /exited with 1:\ninvalid configuration: DB_PORT must be integer/)
})

t.test('node dist/server.js refuses to start on an unreadable password file, naming it', async (t) => {
  const server = startServer(t, { ...await isolatedEnv(t), REDIS_PASSWORD_FILE: '/nonexistent' })
  await t.rejects(server, /exited with 1:\ninvalid configuration: REDIS_PASSWORD_FILE must name a readable file/)
})
