import t from 'tap'
import { liveSchema, readySchema } from '../../src/routes/health.js'
import { MIGRATION_LOCK } from '../../src/plugins/external/migrations.js'
import { buildAppOn, buildTestApp, checkBody, isolatedEnv, level } from '../helpers/app.js'
import { startProxy } from '../helpers/proxy.js'
import { freePort } from '../helpers/server.js'
import { connectDatabase, services } from '../helpers/services.js'
import { DOCUMENTED_TIMEOUT, waitUntil } from '../helpers/timing.js'

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
  const { app } = await buildTestApp(t, { ...DOCUMENTED_TIMEOUT, REDIS_PORT: String(await freePort()) })
  t.same(checkBody(t, await app.inject('/health/ready'), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['cache']
  })
})

t.test('/health/ready answers 503 naming the migrations while PostgreSQL answers but the schema is not there yet', async (t) => {
  // Down at start so the first migration attempt fails fast; then up, with
  // another replica holding the migration lock, so the retries wait on it.
  const env = await isolatedEnv(t)
  const db = await startProxy(t, services.db)
  await db.refuse()
  const { app } = await buildAppOn(t, { ...env, DB_PORT: String(db.port) })
  const replica = await connectDatabase(t, env.DB_NAME!)
  await replica.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
  await db.restore()

  t.same(checkBody(t, await app.inject('/health/ready'), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['migrations']
  })
  await replica.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
  await waitUntil(async () => (await app.inject('/health/ready')).statusCode === 200, 'ready once migrated')
})

t.test('health probes stay out of the request log at info level', async (t) => {
  const { app, logs } = await buildTestApp(t)
  await app.inject('/health/live')
  await app.inject('/health/ready')
  await app.inject('/')
  const completed = logs.filter((line) => line.msg === 'request completed')
  t.same(completed.map((line) => [line.url, line.level]), [
    ['/health/live', level.debug], ['/health/ready', level.debug], ['/', level.info]
  ], 'probes at debug, other requests at info')
})
