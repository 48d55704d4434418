import t from 'tap'
import { liveSchema, readySchema } from '../../src/routes/health.js'
import { buildTestApp, checkBody } from '../helpers/app.js'
import { freePort } from '../helpers/server.js'

t.test('/health/live answers while the process runs', async (t) => {
  const { app } = await buildTestApp(t)
  t.same(checkBody(t, await app.inject('/health/live'), 200, liveSchema), { status: 'ok' })
})

t.test('/health/ready answers 200 when PostgreSQL and Redis answer and migrations are applied', async (t) => {
  const { app } = await buildTestApp(t)
  t.same(checkBody(t, await app.inject('/health/ready'), 200, readySchema), { status: 'ok' })
})

t.test('/health/ready answers 503 naming the database when PostgreSQL refuses connections', async (t) => {
  const { app } = await buildTestApp(t, { DB_PORT: String(await freePort()) })
  t.same(checkBody(t, await app.inject('/health/ready'), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['database']
  })
})

t.test('/health/ready answers 503 naming the cache when Redis refuses connections', async (t) => {
  const { app } = await buildTestApp(t, { REDIS_PORT: String(await freePort()) })
  t.same(checkBody(t, await app.inject('/health/ready'), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['cache']
  })
})

t.test('health probes stay out of the request log at info level', async (t) => {
  const { app, logs } = await buildTestApp(t)
  await app.inject('/health/live')
  await app.inject('/health/ready')
  await app.inject('/')
  const completed = logs.filter((line) => line.msg === 'request completed')
  t.same(completed.map((line) => [line.url, line.level]), [
    ['/health/live', 20], ['/health/ready', 20], ['/', 30]
  ], 'probes at debug (20), other requests at info (30)')
})
