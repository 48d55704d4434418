import t from 'tap'
import { liveSchema } from '../../src/routes/health.js'
import { buildTestApp } from '../helpers/app.js'
import { freePort } from '../helpers/server.js'
import { startProxy } from '../helpers/proxy.js'
import { connectDatabase, services } from '../helpers/services.js'
import { DOCUMENTED_TIMEOUT, waitUntil } from '../helpers/timing.js'

function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('/metrics counts requests per route and status, and their duration', async (t) => {
  const { app } = await buildTestApp(t)
  for (let call = 0; call < 3; call++) await app.inject('/db/test')
  await app.inject('/nowhere')
  const response = await app.inject('/metrics')
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = response.body
  t.equal(sample(text, 'http_request_duration_seconds_count{method="GET",route="/db/test",status_code="200"}'), 3)
  t.equal(sample(text, 'http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}'), 1)
  t.ok(sample(text, 'http_request_duration_seconds_sum{method="GET",route="/db/test",status_code="200"}')! > 0)
})

t.test('/metrics puts each duration in the buckets at or above it, cumulatively', async (t) => {
  // What the handler itself measured it waited: a timer may fire a little early.
  const waited: number[] = []
  const { app } = await buildTestApp(t, {}, {
    extend: (app) => app.get('/slow', { schema: liveSchema }, async () => {
      const started = performance.now()
      await new Promise((resolve) => setTimeout(resolve, 30))
      waited.push((performance.now() - started) / 1000)
      return { status: 'ok' as const }
    })
  })
  await app.inject('/slow')
  const text = (await app.inject('/metrics')).body
  const labels = 'method="GET",route="/slow",status_code="200"'
  const seconds = sample(text, `http_request_duration_seconds_sum{${labels}}`)!
  t.ok(seconds >= waited[0]!, `took ${seconds} s, of which the handler waited ${waited[0]} s`)
  for (const le of ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf']) {
    const expected = le === '+Inf' || seconds <= Number(le) ? 1 : 0
    t.equal(sample(text, `http_request_duration_seconds_bucket{le="${le}",${labels}}`), expected, `le=${le}`)
  }
  await app.inject('/slow')
  const after = (await app.inject('/metrics')).body
  t.equal(sample(after, `http_request_duration_seconds_count{${labels}}`), 2)
  t.ok(sample(after, `http_request_duration_seconds_sum{${labels}}`)! >= seconds + waited[1]!, 'the sum adds the second duration')
})

t.test('/metrics reports the pool as PostgreSQL sees it, the Redis connection and the process', async (t) => {
  // Enough time for a query held on a lock, longer than the default.
  const { app, config } = await buildTestApp(t, { DEPENDENCY_TIMEOUT_MS: '5000' })
  // Four queries at once, each on a connection of its own (requests would not do:
  // the pings of a turn share one query, a burst of inserts is one group).
  await Promise.all(Array.from({ length: 4 }, async () => await app.postgresPool.query({ text: 'SELECT pg_sleep(0.05)' })))
  // One pool connection held busy, so idle and total differ: an insert waiting on a table lock.
  const admin = await connectDatabase(t, config.DB_NAME)
  await admin.query('BEGIN')
  await admin.query('LOCK TABLE acessos IN ACCESS EXCLUSIVE MODE')
  const held = app.inject('/db/test')
  // Not the locking client: inside its transaction pg_stat_activity is a snapshot that never moves.
  const observer = await connectDatabase(t, config.DB_NAME)
  const backends = async () => (await observer.query<{ state: string, count: number }>(
    "SELECT state, count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' GROUP BY state", [config.DB_NAME]
  )).rows
  await waitUntil(async () => (await backends()).some(({ state }) => state === 'active'), 'an insert waiting on the lock')

  const text = (await app.inject('/metrics')).body
  const byState = Object.fromEntries((await backends()).map(({ state, count }) => [state, count]))
  t.equal(sample(text, 'db_pool_connections'), (byState.idle ?? 0) + (byState.active ?? 0), 'connections == the service\'s backends')
  t.equal(sample(text, 'db_pool_idle_connections'), byState.idle, 'idle == the service\'s idle backends')
  t.ok(byState.idle! >= 1, `${byState.idle} idle, ${byState.active} busy`)
  t.equal(sample(text, 'db_pool_waiting_requests'), 0)
  t.equal(sample(text, 'redis_connected'), 1)
  t.ok(sample(text, 'process_resident_memory_bytes')! > 0)

  await admin.query('ROLLBACK')
  t.equal((await held).statusCode, 200)
})

t.test('the pool never holds more than DB_POOL_MAX connections; the queries past it wait, and /metrics counts them', async (t) => {
  const proxy = await startProxy(t, services.db)
  const { app } = await buildTestApp(t, { DB_PORT: String(proxy.port), DB_POOL_MAX: '2', DEPENDENCY_TIMEOUT_MS: '5000' })
  // Five queries held by a frozen PostgreSQL (requests would not do: the pings of
  // a turn share one query, a burst of inserts is one group).
  proxy.freeze()
  const held = Array.from({ length: 5 }, async () => await app.postgresPool.query<{ one: number }>({ text: 'SELECT 1 AS one' }))
  const waiting = async () => sample((await app.inject('/metrics')).body, 'db_pool_waiting_requests')
  await waitUntil(async () => await waiting() === 3, 'three queries waiting for a connection')
  t.equal(sample((await app.inject('/metrics')).body, 'db_pool_connections'), 2)
  await proxy.restore()
  t.same(await Promise.all(held), Array.from({ length: 5 }, () => [{ one: 1 }]), 'each answered once PostgreSQL was back')
})

t.test('/metrics reports Redis disconnected as 0', async (t) => {
  const { app } = await buildTestApp(t, { ...DOCUMENTED_TIMEOUT, REDIS_PORT: String(await freePort()) })
  t.equal(sample((await app.inject('/metrics')).body, 'redis_connected'), 0)
})

t.test('/metrics series move with traffic', async (t) => {
  const { app } = await buildTestApp(t)
  const series = 'http_request_duration_seconds_count{method="GET",route="/cache/test",status_code="200"}'
  await app.inject('/cache/test')
  const before = sample((await app.inject('/metrics')).body, series)!
  for (let call = 0; call < 5; call++) await app.inject('/cache/test')
  t.equal(sample((await app.inject('/metrics')).body, series), before + 5)
})
