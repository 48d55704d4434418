import { subscribe } from 'node:diagnostics_channel'
import { register } from 'node:module'
import { context } from '@opentelemetry/api'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { core, NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { Availability } from '../availability.js'
import type { Config } from '../config.js'
import { TurnBatchedOutput } from '../logging/output.js'
import { QUIET_ROUTES } from '../quiet-routes.js'
import { onRequestSpan } from './request-span.js'
import { inSampledRequest, sampleAtHead } from './request-sampling.js'
import { configuredSampler, DecisionFollowingSampler } from './sampler.js'

type SpanExporter = NodeSDKConfiguration['traceExporter']

/**
 * The OTLP exporter, reporting whether the collector takes the spans: one
 * warning when exports start failing, one line when they succeed again, as for
 * PostgreSQL and Redis. A failed batch is dropped; requests never wait on it.
 */
class ReportingExporter implements SpanExporter {
  constructor (private readonly exporter: SpanExporter, private readonly availability: Availability) {}

  export: SpanExporter['export'] = (spans, done) => {
    this.exporter.export(spans, (result) => {
      if (result.code === core.ExportResultCode.SUCCESS) this.availability.markUp()
      else this.availability.markDown(result.error)
      done(result)
    })
  }

  shutdown = async () => await this.exporter.shutdown()
  forceFlush = async () => await this.exporter.forceFlush?.()
}

/**
 * Starts the OpenTelemetry SDK: one server span per sampled request, made by
 * @fastify/otel and named by its route pattern, and the PostgreSQL and Redis
 * calls made within it. The configured sampler decides at the head of each
 * request (request-sampling.ts), in a hook that runs before @fastify/otel's,
 * so an unsampled request costs no span, context or id. @fastify/otel reads
 * the incoming traceparent itself, so the http instrumentation, which does the
 * same work again in Node's http server events, is not loaded. The other
 * OTEL_* variables (endpoint, the SDK's own tunables) are read by the SDK
 * itself. Spans wait in the batch processor's bounded queue
 * (OTEL_BSP_MAX_QUEUE_SIZE) and beyond it are dropped.
 */
export function startTracing (config: Config): void {
  // pg and ioredis are imported from ESM, which only these hooks can instrument.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['pg', 'ioredis'] } })

  const log = pino({ level: config.LOG_LEVEL }, new TurnBatchedOutput(process.stdout.fd))
  const sampler = configuredSampler(config)
  const fastifyOtel = new FastifyOtelInstrumentation({
    // @fastify/otel asks twice: when a route is added (its options, with a
    // handler), to wrap it unless it is a probe; and when a request starts
    // (its url and method), to trace it only if it was sampled.
    ignorePaths: (route) => 'handler' in route ? QUIET_ROUTES.has(route.url) : !inSampledRequest(context.active()),
    // A span per hook or handler would cost more than the request it describes.
    instrumentHooks: false,
    instrumentHandler: false,
    requestHook: onRequestSpan
  })
  // Every Fastify instance, as it is created: the sampling hook first, then
  // @fastify/otel, whose onRequest hook needs the decision.
  subscribe('fastify.initialization', (message) => {
    const { fastify } = message as { fastify: FastifyInstance }
    fastify.addHook('onRequest', sampleAtHead(sampler))
    fastify.register(fastifyOtel.plugin())
  })
  const sdk = new NodeSDK({
    serviceName: config.OTEL_SERVICE_NAME,
    sampler: new DecisionFollowingSampler(sampler),
    traceExporter: new ReportingExporter(new OTLPTraceExporter(), new Availability(log, 'OTLP collector')),
    // Traces only: the metrics are Prometheus' (/metrics), the logs stdout's.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      fastifyOtel,
      // Only within a traced request: probes, migrations and untraced shared work stay out.
      // No span for taking a pooled client: a wait for one shows as the time
      // between the shared work's span and its statement's.
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new IORedisInstrumentation({ requireParentSpan: true })
    ]
  })
  sdk.start()
}
