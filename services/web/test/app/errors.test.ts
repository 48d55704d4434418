import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { buildTestApp, checkBody, level } from '../helpers/app.js'

t.test('anything unexpected answers 500 Erro interno; the error goes to the log with the request id, never to the caller', async (t) => {
  const { app, logs } = await buildTestApp(t, {}, {
    extend: (app) => app.get('/boom', { schema: statusSchema }, async () => {
      throw new Error('secret detail: SELECT * FROM acessos')
    })
  })
  const response = await app.inject({ url: '/boom', headers: { 'x-request-id': 'boom-1' } })
  t.same(checkBody(t, response, 500, statusSchema), { status: 'erro', erro: 'Erro interno' })
  t.notMatch(response.body, 'secret detail')
  const logged = logs.find((line) => line.reqId === 'boom-1' && line.level === level.error)
  t.match(logged, { msg: 'unexpected error', err: { message: 'secret detail: SELECT * FROM acessos', stack: String } })
})

t.test('an error carrying a client status answers that status with its documented text, or Requisição inválida', async (t) => {
  const { app } = await buildTestApp(t, {}, {
    extend: (app) => app.get('/client-error', { schema: statusSchema }, async (request) => {
      throw Object.assign(new Error('client error'), { statusCode: Number((request.query as { status: string }).status) })
    })
  })
  t.same(checkBody(t, await app.inject('/client-error?status=413'), 413, statusSchema), { status: 'erro', erro: 'Corpo da requisição grande demais' })
  t.same(checkBody(t, await app.inject('/client-error?status=418'), 418, statusSchema), { status: 'erro', erro: 'Requisição inválida' })
})
