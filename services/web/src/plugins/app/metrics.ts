import fp from 'fastify-plugin'
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { RequestLog } from '../../logging.js'

// Prometheus text format at /metrics. A registry per instance, not prom-client's
// global one, so several apps in one process (the tests) never collide.
export default fp(async function metrics (fastify: FastifyInstance, { requestLog }: { requestLog: RequestLog }) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const requestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by route and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })

  const { postgresPool, redisConnection } = fastify
  const gauge = (name: string, help: string, read: () => number) => new Gauge({
    name,
    help,
    registers: [registry],
    collect () { this.set(read()) }
  })
  gauge('db_pool_connections', 'PostgreSQL connections held by the pool', () => postgresPool.stats().connections)
  gauge('db_pool_idle_connections', 'PostgreSQL pool connections waiting for work', () => postgresPool.stats().idle)
  gauge('db_pool_waiting_requests', 'Queries waiting for a free PostgreSQL connection', () => postgresPool.stats().waiting)
  gauge('redis_connected', '1 while the Redis connection is ready, 0 otherwise', () => redisConnection.stats().connected ? 1 : 0)

  // One labelled child per (method, route, status), found by a string key:
  // observe() with a labels object hashes and sorts the labels on every call.
  const series = new Map<string, ReturnType<typeof requestDuration.labels>>()
  // The route pattern, never the raw URL: junk URLs must not create series.
  requestLog.observe = (method, route = 'unmatched', statusCode, seconds) => {
    const key = `${method} ${route} ${statusCode}`
    let child = series.get(key)
    if (child === undefined) {
      child = requestDuration.labels(method, route, String(statusCode))
      series.set(key, child)
    }
    child.observe(seconds)
  }

  fastify.get('/metrics', { schema: { hide: true }, exposeHeadRoute: true }, async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics', dependencies: ['errors', 'postgres-pool', 'redis-connection'] })
