import { context, ROOT_CONTEXT, SpanStatusCode, trace, type Span } from '@opentelemetry/api'

// The API's no-op tracer until the SDK is started (telemetry.ts), and then the SDK's.
const tracer = trace.getTracer('web')

/** The attribute saying how many requests one run of shared work served. */
export const SHARED_REQUESTS = 'web.shared.requests'

/**
 * Awaits `join`, which hands the caller's request to work shared with other
 * requests (per-turn.ts), under a span of the request's own for the wait,
 * ended once it is answered. `join` gets that span, undefined when the request
 * is not traced (tracing off, not sampled, a probe).
 */
export function awaitShared<T> (name: string, join: (wait: Span | undefined) => Promise<T>): Promise<T> {
  // Not async: an untraced request (every one, with tracing off) pays no extra promise.
  // Only a request sampled at its head has a span (tracing/request-sampling.ts).
  if (trace.getActiveSpan() === undefined) return join(undefined)
  return awaitTraced(tracer.startSpan(`${name} wait`), join)
}

async function awaitTraced<T> (wait: Span, join: (wait: Span) => Promise<T>): Promise<T> {
  try {
    return await join(wait)
  } finally {
    wait.end()
  }
}

/**
 * Runs work done once for several requests. It belongs to none of them, so it
 * gets a trace of its own: one span, linked to the wait of every traced request
 * it serves (each wait linked back to it), counting every request served, with
 * the PostgreSQL and Redis calls below it. With no traced request among them it
 * runs in the context it is given: a per-turn flush's, which is in no trace.
 */
export function runShared<T> (name: string, waits: ReadonlyArray<Span | undefined>, work: () => Promise<T>): Promise<T> {
  if (waits.every((wait) => wait === undefined)) return work()
  return runTraced(name, waits, work)
}

async function runTraced<T> (name: string, waits: ReadonlyArray<Span | undefined>, work: () => Promise<T>): Promise<T> {
  const traced = waits.filter((wait) => wait !== undefined)
  const span = tracer.startSpan(name, {
    root: true,
    links: traced.map((wait) => ({ context: wait.spanContext() })),
    attributes: { [SHARED_REQUESTS]: waits.length }
  })
  for (const wait of traced) wait.addLink({ context: span.spanContext() })
  try {
    return await context.with(trace.setSpan(ROOT_CONTEXT, span), work)
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message })
    throw err
  } finally {
    span.end()
  }
}

/** Runs `work` outside any trace, whichever request's context it was scheduled from (per-turn.ts' flushes). */
export function outsideAnyTrace<T> (work: () => T): T {
  return context.with(ROOT_CONTEXT, work)
}

/**
 * `call`, to be made later beside other requests' calls, each call its own
 * work (per-turn.ts): bound to its caller's trace, so that what it sends is
 * traced under the request that asked for it. An untraced caller's call stays
 * unbound: the batch's flush runs outside any trace.
 */
export function inCallersTrace<T> (call: () => T): () => T {
  return trace.getActiveSpan() === undefined ? call : context.bind(context.active(), call)
}
