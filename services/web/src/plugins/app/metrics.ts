import fp from 'fastify-plugin'
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import type { RequestLog } from '../../logging.js'

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/**
 * `http_request_duration_seconds`, a histogram by method, route and status.
 * prom-client's Histogram validates and hashes the label set on every
 * observation, several µs a request (docs/performance.md); here a series is found
 * by one string key and an observation is two additions.
 */
class RequestDurations {
  readonly #series = new Map<string, { labels: string, inBucket: number[], sum: number, count: number }>()

  observe (method: string, route: string, statusCode: number, seconds: number): void {
    const key = `${method} ${route} ${statusCode}`
    let series = this.#series.get(key)
    if (series === undefined) {
      const labels = `method="${labelValue(method)}",route="${labelValue(route)}",status_code="${statusCode}"`
      series = { labels, inBucket: DURATION_BUCKETS.map(() => 0), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    const bucket = DURATION_BUCKETS.findIndex((bound) => seconds <= bound)
    if (bucket !== -1) series.inBucket[bucket]!++
    series.sum += seconds
    series.count++
  }

  /** Prometheus' text format: cumulative buckets, then +Inf, sum and count, per series. */
  exposition (): string {
    const name = 'http_request_duration_seconds'
    const lines = [`# HELP ${name} Time to answer a request, by route and status`, `# TYPE ${name} histogram`]
    for (const { labels, inBucket, sum, count } of this.#series.values()) {
      let cumulative = 0
      DURATION_BUCKETS.forEach((bound, index) => {
        cumulative += inBucket[index]!
        lines.push(`${name}_bucket{le="${bound}",${labels}} ${cumulative}`)
      })
      lines.push(`${name}_bucket{le="+Inf",${labels}} ${count}`, `${name}_sum{${labels}} ${sum}`, `${name}_count{${labels}} ${count}`)
    }
    return `${lines.join('\n')}\n`
  }
}

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
function labelValue (value: string): string {
  return value.replace(/[\\"\n]/g, (character) => character === '\n' ? '\\n' : `\\${character}`)
}

// Prometheus text format at /metrics. A registry per instance, not prom-client's
// global one, so several apps in one process (the tests) never collide.
export default fp(async function metrics (fastify: FastifyInstance, { requestLog }: { requestLog: RequestLog }) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const durations = new RequestDurations()

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

  // The route pattern, never the raw URL: junk URLs must not create series.
  requestLog.observe = (method, route = 'unmatched', statusCode, seconds) => {
    durations.observe(method, route, statusCode, seconds)
  }

  fastify.get('/metrics', { schema: { hide: true }, exposeHeadRoute: true }, async (_request, reply) => {
    return await reply.type(registry.contentType).send(await registry.metrics() + durations.exposition())
  })
}, { name: 'metrics', dependencies: ['errors', 'postgres-pool', 'redis-connection'] })
