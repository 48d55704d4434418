import fp from 'fastify-plugin'
import { collectDefaultMetrics, Gauge, Histogram, Registry, type Metric, type OpenMetricsContentType } from 'prom-client'
import { tracingEnabled } from '../../config.js'

/** The exemplar label naming a trace: what Grafana's Prometheus datasource links to Jaeger by. */
export const TRACE_ID_LABEL = 'trace_id'

/** Whether a scraper takes OpenMetrics, the format that carries exemplars (Prometheus asks for it first). */
const acceptsOpenMetrics = (accept: string | undefined) => accept?.includes('application/openmetrics-text') === true

// Prometheus text format at /metrics, or OpenMetrics when asked for. Registries
// per instance, not prom-client's global one, so several apps in one process
// never collide.
export default fp(async function metrics (fastify) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const exemplars = tracingEnabled(fastify.config)

  // <string>: prom-client's types would otherwise only allow the series' own labels on an exemplar.
  const durations = new Histogram<string>({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by route and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    // prom-client allows exemplars only on an OpenMetrics registry: both registries take it below.
    registers: [],
    // With tracing on, each bucket keeps the trace id of its latest traced request.
    enableExemplars: exemplars
  })
  registry.registerMetric(durations)
  // The route pattern, never the raw URL: junk URLs must not create series.
  fastify.addHook('onResponse', (request, reply, done) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode }
    const value = reply.elapsedTime / 1000
    if (!exemplars) durations.observe(labels, value)
    else durations.observe({ labels, value, exemplarLabels: request.traceId === null ? {} : { [TRACE_ID_LABEL]: request.traceId } })
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

  // The same metrics, written as OpenMetrics.
  const openMetrics = new Registry<OpenMetricsContentType>()
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
  // getMetricsAsArray returns the metrics themselves, whatever its declared type says.
  for (const metric of registry.getMetricsAsArray()) openMetrics.registerMetric(metric as unknown as Metric)

  fastify.get('/metrics', { schema: { hide: true }, exposeHeadRoute: true }, async (request, reply) => {
    const chosen = acceptsOpenMetrics(request.headers.accept) ? openMetrics : registry
    return await reply.type(chosen.contentType).send(await chosen.metrics())
  })
}, { name: 'metrics', dependencies: ['errors', 'postgres-pool', 'redis-connection', 'tracing'] })
