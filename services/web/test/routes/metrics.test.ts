import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

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

t.test('/metrics reports the pool, the Redis connection and the process', async (t) => {
  const { app } = await buildTestApp(t)
  await app.inject('/db/test')
  const text = (await app.inject('/metrics')).body
  t.ok(sample(text, 'db_pool_connections')! >= 1, 'the pool holds a connection')
  t.type(sample(text, 'db_pool_idle_connections'), 'number')
  t.equal(sample(text, 'db_pool_waiting_requests'), 0)
  t.equal(sample(text, 'redis_connected'), 1)
  t.ok(sample(text, 'process_resident_memory_bytes')! > 0)
})

t.test('/metrics series move with traffic', async (t) => {
  const { app } = await buildTestApp(t)
  const series = 'http_request_duration_seconds_count{method="GET",route="/cache/test",status_code="200"}'
  await app.inject('/cache/test')
  const before = sample((await app.inject('/metrics')).body, series)!
  for (let call = 0; call < 5; call++) await app.inject('/cache/test')
  t.equal(sample((await app.inject('/metrics')).body, series), before + 5)
})
