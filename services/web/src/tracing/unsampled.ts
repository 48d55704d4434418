import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api'

/**
 * Starts a request's own call to Redis or PostgreSQL. In a sampled request it
 * runs in the request's context, where the instrumentation gives it a child
 * span. In an unsampled one it runs outside any span, so the instrumentation
 * passes it straight through: under a span that records nothing it would still
 * build a span, its ids and its statement for every call.
 */
export function startCall<T> (call: () => T): T {
  const span = trace.getActiveSpan()
  if (span === undefined || span.isRecording()) return call()
  return context.with(ROOT_CONTEXT, call)
}
