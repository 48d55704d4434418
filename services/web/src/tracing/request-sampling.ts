import { context, createContextKey, propagation, SpanKind, trace, type Context } from '@opentelemetry/api'
import { tracing } from '@opentelemetry/sdk-node'
import type { onRequestHookHandler } from 'fastify'
import { isQuiet } from '../quiet-routes.js'

const { RandomIdGenerator, SamplingDecision } = tracing

const SAMPLED_REQUEST = createContextKey('web: a request the sampler chose to trace')

/** Whether `ctx` is, or descends from, the context of a request the sampler chose to trace. */
export function inSampledRequest (ctx: Context): boolean {
  return ctx.getValue(SAMPLED_REQUEST) === true
}

/**
 * An onRequest hook that asks the configured sampler, once, at the head of a
 * request and before any span exists, whether to trace it. A sampled request
 * goes on in a context so marked, holding the caller's span if a traceparent
 * came in; an unsampled one goes on untouched, and as nothing in its context
 * asks for a span, @fastify/otel and the pg and ioredis instrumentations leave
 * it alone. Probes and /metrics are never sampled.
 */
export function sampleAtHead (sampler: tracing.Sampler): onRequestHookHandler {
  const ids = new RandomIdGenerator()
  return function sampleRequest (request, _reply, done) {
    if (isQuiet(request)) return done()
    const caller = propagation.extract(context.active(), request.headers)
    // A new trace's id is drawn here only for the sampler to decide on; the
    // server span gets its own, equally random, from the SDK.
    const traceId = trace.getSpanContext(caller)?.traceId ?? ids.generateTraceId()
    const { decision } = sampler.shouldSample(caller, traceId, request.method, SpanKind.SERVER, {}, [])
    if (decision !== SamplingDecision.RECORD_AND_SAMPLED) return done()
    context.with(caller.setValue(SAMPLED_REQUEST, true), done)
  }
}
