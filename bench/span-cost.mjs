// What the OpenTelemetry SDK and its OTLP protobuf encoder cost for the spans
// of one traced GET / (docs/performance.md#tracing), with nothing of the
// service around them: a request's server span and its two waits, each wait
// linked to its turn's shared ping, and per turn the two shared pings, each
// linked to every wait it served, with a client span below it. Spans are made
// and ended in a hot loop, batched as in the service, encoded and dropped: the
// least tracing every request can cost, whatever the service does.
//
//   node bench/span-cost.mjs [--per-turn 21] [--requests 210000] [--rounds 4]
//
// --per-turn is how many requests share one turn's pings (count them in a
// trace backend: waits ÷ shared pings). The SDK is the one services/web ships.
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { percentile } from './lib/percentile.mjs'

const { values: options } = parseArgs({
  options: {
    'per-turn': { type: 'string', default: '21' },
    requests: { type: 'string', default: '210000' },
    rounds: { type: 'string', default: '4' }
  }
})
const perTurn = Number(options['per-turn'])
const requests = Number(options.requests)

const require = createRequire(new URL('../services/web/package.json', import.meta.url))
const { ROOT_CONTEXT, SpanKind, trace } = require('@opentelemetry/api')
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer')

/** A tracer whose batches are encoded as the OTLP/HTTP exporter encodes them, or only dropped. */
function tracerThat (encodes) {
  const exporter = {
    export (spans, done) {
      if (encodes) ProtobufTraceSerializer.serializeRequest(spans)
      done({ code: 0 })
    },
    shutdown: async () => {}
  }
  // The service's queue would drop what a hot loop outpaces; this one keeps every span.
  const processor = new BatchSpanProcessor(exporter, { maxQueueSize: 1e7, scheduledDelayMillis: 5 })
  const provider = new BasicTracerProvider({ spanProcessors: [processor] })
  return { tracer: provider.getTracer('web'), provider }
}

/** The shared pings of a turn, and the client span each makes, with attributes of the shapes the instrumentations give them. */
const SHARED_PINGS = [
  { name: 'PostgreSQL ping', client: 'pg.query:SELECT', attributes: { 'db.system.name': 'postgresql', 'db.namespace': 'web', 'server.address': '127.0.0.1', 'server.port': 5432, 'db.query.text': 'SELECT 1' } },
  { name: 'Redis ping', client: 'ping', attributes: { 'db.system.name': 'redis', 'server.address': '127.0.0.1', 'server.port': 6379, 'db.query.text': 'ping' } }
]

function turn (tracer) {
  const requestsOfTurn = []
  for (let i = 0; i < perTurn; i++) {
    const server = tracer.startSpan('request', {
      kind: SpanKind.SERVER,
      attributes: { 'fastify.root': '@fastify/otel', 'http.request.method': 'GET', 'url.path': '/', 'http.route': '/' }
    })
    server.updateName('GET /')
    const inRequest = trace.setSpan(ROOT_CONTEXT, server)
    requestsOfTurn.push({ server, waits: SHARED_PINGS.map(({ name }) => tracer.startSpan(`${name} wait`, {}, inRequest)) })
  }
  SHARED_PINGS.forEach(({ name, client, attributes }, index) => {
    const waits = requestsOfTurn.map((request) => request.waits[index])
    const shared = tracer.startSpan(name, { root: true, links: waits.map((wait) => ({ context: wait.spanContext() })), attributes: { 'web.shared.requests': perTurn } })
    for (const wait of waits) wait.addLink({ context: shared.spanContext() })
    tracer.startSpan(client, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(ROOT_CONTEXT, shared)).end()
    shared.end()
  })
  for (const { server, waits } of requestsOfTurn) {
    for (const wait of waits) wait.end()
    server.setAttributes({ 'http.response.status_code': 200 })
    server.end()
  }
}

/** µs per request, median of the rounds. */
async function measure (encodes) {
  const { tracer, provider } = tracerThat(encodes)
  const rounds = []
  for (let round = 0; round < Number(options.rounds); round++) {
    const start = process.hrtime.bigint()
    for (let served = 0; served < requests; served += perTurn) {
      turn(tracer)
      // A turn ends: the batch processor's timer may fire, as in the service.
      await new Promise(setImmediate)
    }
    await provider.forceFlush()
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / requests)
  }
  await provider.shutdown()
  return percentile(rounds, 0.5)
}

const made = await measure(false)
const encoded = await measure(true)
process.stdout.write(`${perTurn} requests per turn: ${made.toFixed(1)} µs per request to make and end the spans, ` +
  `${encoded.toFixed(1)} µs to make, end and encode them\n`)
