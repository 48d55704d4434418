import fp from 'fastify-plugin'
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

// Prometheus text format at /metrics. A registry per instance, not prom-client's
// global one, so several apps in one process never collide.
export default fp(async function metrics (fastify) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry]
  })
  // The route pattern, never the raw URL: junk URLs must not create series.
  fastify.addHook('onResponse', (request, reply, done) => {
    durations.observe({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: reply.statusCode
    }, reply.elapsedTime / 1000)
    done()
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

  fastify.get('/metrics', { schema: { hide: true }, exposeHeadRoute: true }, async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics', dependencies: ['errors', 'postgres-pool', 'redis-connection'] })
