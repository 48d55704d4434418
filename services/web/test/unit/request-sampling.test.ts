import { randomBytes } from 'node:crypto'
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags, type Context } from '@opentelemetry/api'
import { node, tracing } from '@opentelemetry/sdk-node'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { QUIET_ROUTES } from '../../src/quiet-routes.js'
import { inSampledRequest, sampleAtHead } from '../../src/tracing/request-sampling.js'
import { DecisionFollowingSampler } from '../../src/tracing/sampler.js'

const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, SamplingDecision } = tracing

// The context manager and the W3C propagator the SDK installs, so that a
// context set by the hook reaches the handler and a traceparent is read.
new node.NodeTracerProvider().register()

/** A sampler that answers as `answer` does and remembers what it was asked. */
function askedSampler (answer: tracing.Sampler) {
  const asked: Array<{ parent: Context, traceId: string }> = []
  const sampler: tracing.Sampler = {
    shouldSample: (parent, traceId, ...rest) => {
      asked.push({ parent, traceId })
      return answer.shouldSample(parent, traceId, ...rest)
    },
    toString: () => 'asked'
  }
  return { sampler, asked }
}

/** An app with the sampling hook and one route per path, each answering what its handler's context holds. */
async function sampledApp (t: Test, sampler: tracing.Sampler) {
  const app = Fastify({ logger: false })
  app.addHook('onRequest', sampleAtHead(sampler))
  for (const url of ['/traced', ...QUIET_ROUTES]) {
    app.get(url, async () => {
      const active = context.active()
      const caller = trace.getSpanContext(active)
      return { sampled: inSampledRequest(active), callerTraceId: caller?.traceId ?? null, callerIsRemote: caller?.isRemote ?? null }
    })
  }
  t.teardown(async () => await app.close())
  return app
}

const traceparent = (flags: '00' | '01') => {
  const traceId = randomBytes(16).toString('hex')
  return { traceId, header: `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}` }
}

t.test('a request the sampler declines goes on with nothing in its context: no mark, no span', async (t) => {
  const app = await sampledApp(t, new AlwaysOffSampler())
  const response = await app.inject('/traced?query=1')
  t.same(response.json(), { sampled: false, callerTraceId: null, callerIsRemote: null })
})

t.test('a sampled request goes on marked, below the span its caller named in its traceparent', async (t) => {
  const app = await sampledApp(t, new AlwaysOnSampler())
  const { traceId, header } = traceparent('01')
  const response = await app.inject({ url: '/traced', headers: { traceparent: header } })
  t.same(response.json(), { sampled: true, callerTraceId: traceId, callerIsRemote: true })
})

t.test('the sampler is asked once per request, about the caller\'s trace', async (t) => {
  const { sampler, asked } = askedSampler(new ParentBasedSampler({ root: new AlwaysOnSampler() }))
  const app = await sampledApp(t, sampler)
  const { traceId, header } = traceparent('00')
  const response = await app.inject({ url: '/traced', headers: { traceparent: header } })
  t.equal(response.json().sampled, false, 'a caller that did not sample its trace is not sampled here')
  t.equal(asked.length, 1)
  t.equal(asked[0]!.traceId, traceId, 'the decision is on the caller\'s trace id')
  t.equal(trace.getSpanContext(asked[0]!.parent)?.traceId, traceId, 'with the caller\'s span as parent')
})

t.test('a new trace is decided on an id of its own for each request', async (t) => {
  const { sampler, asked } = askedSampler(new AlwaysOnSampler())
  const app = await sampledApp(t, sampler)
  await app.inject('/traced')
  await app.inject('/traced')
  t.equal(asked.length, 2)
  t.match(asked[0]!.traceId, /^[0-9a-f]{32}$/)
  t.not(asked[0]!.traceId, asked[1]!.traceId)
  t.notOk(trace.getSpanContext(asked[0]!.parent), 'no parent span')
})

t.test('probes and /metrics never reach the sampler', async (t) => {
  const { sampler, asked } = askedSampler(new AlwaysOnSampler())
  const app = await sampledApp(t, sampler)
  for (const url of QUIET_ROUTES) t.equal((await app.inject(url)).json().sampled, false, url)
  t.equal(asked.length, 0)
})

t.test('the SDK\'s sampler keeps the whole tree of a request sampled at its head, whatever the configured sampler draws', async (t) => {
  const app = await sampledApp(t, new AlwaysOnSampler())
  app.get('/decision', async () => new DecisionFollowingSampler(new AlwaysOffSampler())
    .shouldSample(context.active(), randomBytes(16).toString('hex'), 'pg.query', SpanKind.CLIENT, {}, []).decision)
  t.equal((await app.inject('/decision')).json(), SamplingDecision.RECORD_AND_SAMPLED)
})

t.test('the SDK\'s sampler keeps a span linked to a sampled span, and leaves any other to the configured sampler', async (t) => {
  const sampler = new DecisionFollowingSampler(new AlwaysOffSampler())
  const linkedTo = (traceFlags: TraceFlags) => [{ context: { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags } }]
  const decide = (links: ReturnType<typeof linkedTo>) =>
    sampler.shouldSample(ROOT_CONTEXT, randomBytes(16).toString('hex'), 'shared work', SpanKind.INTERNAL, {}, links).decision
  t.equal(decide(linkedTo(TraceFlags.SAMPLED)), SamplingDecision.RECORD_AND_SAMPLED, 'linked to a sampled span')
  t.equal(decide(linkedTo(TraceFlags.NONE)), SamplingDecision.NOT_RECORD, 'linked to an unsampled span: the configured sampler\'s answer')
  t.equal(decide([]), SamplingDecision.NOT_RECORD, 'not linked: the configured sampler\'s answer')
})
