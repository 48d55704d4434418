import t from 'tap'
import { liveSchema, readySchema } from '../../src/routes/health.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { endpoints } from '../helpers/endpoints.js'
import { timed } from '../helpers/timing.js'

const DELAY_MS = 400

t.test('before shutdown, readiness is 200 and answers keep their connection', async (t) => {
  const { app } = await buildTestApp(t, { SHUTDOWN_DELAY_MS: String(DELAY_MS) })
  t.same(checkBody(t, await app.inject('/health/ready'), 200, readySchema), { status: 'ok' })
  t.equal((await app.inject('/db/test')).headers.connection, 'keep-alive')
})

t.test(`once draining: readiness fails with encerrando at once, every request is still served with Connection: close, for SHUTDOWN_DELAY_MS (${DELAY_MS} ms)`, async (t) => {
  const { app } = await buildTestApp(t, { SHUTDOWN_DELAY_MS: String(DELAY_MS) })
  const drained = timed(async () => await app.drain.begin())

  t.same(checkBody(t, await app.inject('/health/ready'), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['encerrando']
  })
  for (const { url, schema } of endpoints) {
    const response = await app.inject(url)
    checkBody(t, response, 200, schema)
    t.equal(response.headers.connection, 'close', `${url} asks its client to close`)
  }
  const { ms } = await drained
  t.ok(ms >= DELAY_MS - 20, `the listener may close ${Math.round(ms)} ms after the drain began`)
})

t.test('a request in flight when the drain begins is answered with Connection: close', async (t) => {
  let entered = () => {}
  const handlerEntered = new Promise<void>((resolve) => { entered = resolve })
  let release = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const { app } = await buildTestApp(t, {}, {
    extend: (app) => app.get('/held', { schema: liveSchema }, async () => {
      entered()
      await held
      return { status: 'ok' as const }
    })
  })
  let answered = false
  const inFlight = app.inject('/held').finally(() => { answered = true })
  await handlerEntered
  await app.drain.begin()
  t.notOk(answered, 'still in its handler when the drain began')
  release()
  const response = await inFlight
  checkBody(t, response, 200, liveSchema)
  t.equal(response.headers.connection, 'close')
})
