import { register } from 'node:module'
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
import { LinkFollowingSampler } from './sampler.js'

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

/** The path of a raw request URL, without its query. */
const pathOf = (url: string | undefined) => url?.split('?', 1)[0] ?? ''

/**
 * Starts the OpenTelemetry SDK: one server span per request, made by
 * @fastify/otel and named by its route pattern, and the PostgreSQL and Redis
 * calls made within a traced request. @fastify/otel reads the incoming
 * traceparent itself, so the http instrumentation, which does the same work
 * again in Node's http server events, is not loaded. The sampler is built from
 * the validated settings; the other OTEL_* variables (endpoint, the SDK's own
 * tunables) are read by the SDK itself. Spans wait in the batch processor's
 * bounded queue (OTEL_BSP_MAX_QUEUE_SIZE) and beyond it are dropped.
 */
export function startTracing (config: Config): void {
  // pg and ioredis are imported from ESM, which only these hooks can instrument.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['pg', 'ioredis'] } })

  const log = pino({ level: config.LOG_LEVEL }, new TurnBatchedOutput(process.stdout.fd))
  const sdk = new NodeSDK({
    serviceName: config.OTEL_SERVICE_NAME,
    sampler: new LinkFollowingSampler(config),
    traceExporter: new ReportingExporter(new OTLPTraceExporter(), new Availability(log, 'OTLP collector')),
    // Traces only: the metrics are Prometheus' (/metrics), the logs stdout's.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: ({ url }) => QUIET_ROUTES.has(pathOf(url)),
        // A span per hook or handler would cost more than the request it describes.
        instrumentHooks: false,
        instrumentHandler: false,
        requestHook: onRequestSpan
      }),
      // Only within a traced request: probes, migrations and untraced shared work stay out.
      new PgInstrumentation({ requireParentSpan: true }),
      new IORedisInstrumentation({ requireParentSpan: true })
    ]
  })
  sdk.start()
}
