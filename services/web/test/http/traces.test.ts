import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { get } from 'node:http'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { TRACE_ID_LABEL } from '../../src/plugins/app/metrics.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { SHARED_REQUESTS } from '../../src/tracing/shared-work.js'
import { checkBody, isolatedEnv, type Response } from '../helpers/app.js'
import { endpoints, probes } from '../helpers/endpoints.js'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { rawRequest } from '../helpers/raw-http.js'
import { fetchResponse, SERVER_ARGS, SERVICE_ROOT, startServer, type RunningServer } from '../helpers/server.js'
import { connectDatabase } from '../helpers/services.js'
import { waitUntil } from '../helpers/timing.js'

// The service as the image runs it, tracing into a receiver of the test's own
// that decodes OTLP/HTTP protobuf, as a collector does.

/** Spans leave within a few milliseconds of ending, rather than the SDK's default 5 s. */
const QUICK_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20' }

async function tracedServer (t: Test, env: NodeJS.ProcessEnv = {}) {
  const receiver = await startOtlpReceiver(t)
  const isolated = await isolatedEnv(t)
  const server = await startServer(t, { ...isolated, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...QUICK_EXPORT, ...env })
  return { receiver, server, database: isolated.DB_NAME! }
}

/** The completed-request log line of each of `requestIds`, and the trace it names, once that trace's server span has arrived. */
async function completedTraces (server: RunningServer, receiver: OtlpReceiver, requestIds: string[]) {
  const lineOf = (id: string) => server.logs().find((entry) => entry.reqId === id && entry.msg === 'request completed')
  await waitUntil(() => requestIds.every((id) => lineOf(id) !== undefined), `the log lines of ${requestIds.join(', ')}`)
  const traced = requestIds.map((id) => {
    const line = lineOf(id)!
    // Without a trace id on the line there is no span to wait for: fail now, not at tap's timeout.
    if (typeof line.trace_id !== 'string') throw new Error(`the log line of ${id} names no trace: ${JSON.stringify(line)}`)
    return { line, traceId: line.trace_id }
  })
  await waitUntil(() => traced.every(({ traceId }) => receiver.spans.some((span) => span.traceId === traceId && span.kind === 'SERVER')), 'their server spans')
  return traced
}

/** GET `url` under a request id of the test's own; the id of the trace its log line names, once its server span has arrived. */
async function tracedRequest (server: RunningServer, receiver: OtlpReceiver, url: string, headers: Record<string, string> = {}) {
  const requestId = randomUUID()
  const response = await fetchResponse(server.url + url, { headers: { 'x-request-id': requestId, ...headers } })
  const { line, traceId } = (await completedTraces(server, receiver, [requestId]))[0]!
  return { response, line, traceId, spans: receiver.spans.filter((span) => span.traceId === traceId) }
}

/** A span's name without the database name pg's instrumentation appends. */
const shortName = (span: ReceivedSpan) => span.scope === '@opentelemetry/instrumentation-pg' ? span.name.split(' ')[0]! : span.name

/** A trace as indented lines, children sorted by name. */
function tree (spans: ReceivedSpan[], parentSpanId = '', depth = 0): string[] {
  return spans
    .filter((span) => span.parentSpanId === parentSpanId)
    .sort((a, b) => shortName(a).localeCompare(shortName(b)))
    .flatMap((span) => [`${'  '.repeat(depth)}${shortName(span)}`, ...tree(spans, span.spanId, depth + 1)])
}

/** The span linked from `span`, with its own trace (the shared work); fails unless there is exactly one link, received. */
function linkedSpan (t: Test, receiver: OtlpReceiver, span: ReceivedSpan): ReceivedSpan {
  t.equal(span.links.length, 1, `${span.name} is linked to one span`)
  const target = receiver.spans.find((candidate) => candidate.spanId === span.links[0]?.spanId && candidate.traceId === span.links[0]?.traceId)
  if (target === undefined) throw new Error(`the span ${span.name} links to was not received`)
  return target
}

/** The shared work a wait span is linked to: its trace, and a check that it links back and counts the requests it served. */
function sharedWork (t: Test, receiver: OtlpReceiver, wait: ReceivedSpan) {
  const shared = linkedSpan(t, receiver, wait)
  t.equal(shared.parentSpanId, '', `${shared.name} is the root of a trace of its own`)
  t.not(shared.traceId, wait.traceId, `${shared.name} belongs to no one request's trace`)
  t.ok(shared.links.some((link) => link.spanId === wait.spanId && link.traceId === wait.traceId), `${shared.name} links back to the wait`)
  t.equal(shared.attributes[SHARED_REQUESTS], shared.links.length, `${shared.name} says how many requests it served`)
  // Times are compared as durations: each trace's spans are timed against a clock anchored at its root.
  const statement = receiver.spans.filter((span) => span.parentSpanId === shared.spanId && span.kind === 'CLIENT')
    .sort((a, b) => Number(a.startNs - b.startNs))[0]
  t.ok(statement !== undefined && wait.endNs - wait.startNs >= statement.endNs - statement.startNs,
    `the wait lasts as long as the statement below ${shared.name} at least: the request's trace has its database or cache time`)
  return { shared, tree: tree(receiver.spans.filter((span) => span.traceId === shared.traceId)) }
}

const waitSpan = (spans: ReceivedSpan[], name: string) => {
  const found = spans.find((span) => span.name === name)
  if (found === undefined) throw new Error(`no span ${name} in ${spans.map((span) => span.name).join(', ')}`)
  return found
}

/** Each endpoint: its request's trace below the server span, and the trace of every piece of shared work it waited for. */
const expected: Record<string, { tree: string[], shared: Record<string, string[]> }> = {
  '/': {
    tree: ['GET /', '  PostgreSQL ping wait', '  Redis ping wait'],
    shared: {
      'PostgreSQL ping wait': ['PostgreSQL ping', '  pg.query:SELECT'],
      'Redis ping wait': ['Redis ping', '  ping']
    }
  },
  '/db/test': {
    tree: ['GET /db/test', '  acessos group commit wait'],
    shared: { 'acessos group commit wait': ['acessos group commit', '  pg.query:count-accesses', '  pg.query:record-accesses'] }
  },
  '/cache/test': {
    tree: ['GET /cache/test', '  evalsha'],
    shared: {}
  },
  '/integracao': {
    tree: ['GET /integracao', '  acessos group commit wait', '  evalsha'],
    shared: { 'acessos group commit wait': ['acessos group commit', '  pg.query:record-accesses'] }
  }
}

t.test('each endpoint is one trace: a server span named by its route, its PostgreSQL and Redis work below it', async (t) => {
  const { receiver, server } = await tracedServer(t)
  t.same(Object.keys(expected), endpoints.map(({ url }) => url), 'every endpoint of the contract is checked')
  // Redis learns the counters' script on its first call (NOSCRIPT, then EVAL): not the steady state.
  for (const { url } of endpoints) await fetchResponse(server.url + url)

  for (const { url } of endpoints) {
    t.test(url, async (t) => {
      const { response, line, traceId, spans } = await tracedRequest(server, receiver, url)
      t.equal(response.statusCode, 200)
      t.same(tree(spans), expected[url]!.tree, 'the span tree')
      const root = spans.find((span) => span.parentSpanId === '')!
      t.match(root, { kind: 'SERVER', service: 'web', attributes: { 'http.route': url, 'http.response.status_code': 200 } })
      t.equal(new Set(spans.map((span) => span.traceId)).size, 1, 'one trace')

      t.equal(line.trace_id, traceId, 'the request\'s log line names its trace')
      t.ok(spans.some((span) => span.spanId === line.span_id), 'and a span of it')
      t.equal(line.reqId, response.headers['x-request-id'], 'beside the request id')

      for (const [name, sharedTree] of Object.entries(expected[url]!.shared)) {
        t.same(sharedWork(t, receiver, waitSpan(spans, name)).tree, sharedTree, `${name}: the shared work's span tree`)
      }
    })
  }

  t.test('an unknown route: a server span named by the method, the not-found handler below it', async (t) => {
    const { response, spans } = await tracedRequest(server, receiver, '/nowhere')
    t.equal(response.statusCode, 404)
    t.match(tree(spans), ['GET', /^ {2}notFoundHandler - /])
  })
})

t.test('a burst of concurrent /db/test calls shares one statement: each request waits in a span of its own, linked to it', async (t) => {
  const REQUESTS = 12
  // One group at PostgreSQL at a time (DB_POOL_MAX 2), held there by a lock, so the burst queues into the next group.
  const { receiver, server, database } = await tracedServer(t, { DB_POOL_MAX: '2', DEPENDENCY_TIMEOUT_MS: '5000' })
  const admin = await connectDatabase(t, database)
  const observer = await connectDatabase(t, database)
  await admin.query('BEGIN')
  await admin.query('LOCK TABLE acessos IN ACCESS EXCLUSIVE MODE')
  const first = fetchResponse(`${server.url}/db/test`)
  await waitUntil(async () => (await observer.query(
    "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' AND wait_event_type = 'Lock'", [database]
  )).rowCount! > 0, 'an insert waiting on the lock')
  const ids = Array.from({ length: REQUESTS }, () => randomUUID())
  const burst = ids.map((id) => sendGet(`${server.url}/db/test`, id))
  // Every request of the burst reaches the service while the first group is held:
  // each was sent whole, the service has read all it was sent, and has answered a request sent after it.
  await Promise.all(burst.map(({ sent }) => sent))
  const port = Number(new URL(server.url).port)
  await waitUntil(async () => (await serverConnections(port)).every(({ unread }) => unread === 0), 'the burst read by the service')
  t.equal((await fetchResponse(`${server.url}/health/live`)).statusCode, 200)
  await admin.query('ROLLBACK')
  await first
  for (const { answered } of burst) checkBody(t, await answered, 200, dbTestSchema)

  const traceIds = (await completedTraces(server, receiver, ids)).map(({ traceId }) => traceId)

  const waits = traceIds.map((traceId) => waitSpan(receiver.spans.filter((span) => span.traceId === traceId), 'acessos group commit wait'))
  t.equal(new Set(waits.map((wait) => wait.spanId)).size, REQUESTS, 'each request has a wait span of its own')
  const shared = waits.map((wait) => sharedWork(t, receiver, wait).shared)
  t.equal(new Set(shared.map((span) => span.spanId)).size, 1, 'all linked to the one statement')
  t.equal(shared[0]!.attributes[SHARED_REQUESTS], REQUESTS, `which served the ${REQUESTS} requests`)
  t.equal(shared[0]!.links.length, REQUESTS, 'and links to every one of them')
  t.same(tree(receiver.spans.filter((span) => span.traceId === shared[0]!.traceId)),
    ['acessos group commit', '  pg.query:count-accesses', '  pg.query:record-accesses'], 'one INSERT and one count below it')
})

t.test('a burst of concurrent /cache/test calls goes to Redis in one write: each request\'s trace holds its own command', async (t) => {
  const REQUESTS = 12
  const { receiver, server } = await tracedServer(t)
  // Redis learns the counters' script on its first call (NOSCRIPT, then EVAL): not the steady state.
  await fetchResponse(`${server.url}/cache/test`)
  const ids = Array.from({ length: REQUESTS }, () => randomUUID())
  // Pipelined on one connection and written at once: the service reads the burst, and
  // sends its commands, in one turn of its event loop.
  const burst = ids.map((id, i) => `GET /cache/test HTTP/1.1\r\nHost: web\r\nX-Request-Id: ${id}\r\n${i === REQUESTS - 1 ? 'Connection: close\r\n' : ''}\r\n`)
  await rawRequest(Number(new URL(server.url).port), burst.join(''))

  const traceIds = (await completedTraces(server, receiver, ids)).map(({ traceId }) => traceId)
  for (const traceId of traceIds) {
    t.same(tree(receiver.spans.filter((span) => span.traceId === traceId)), expected['/cache/test']!.tree, `trace ${traceId}: its server span and its own command`)
  }
})

/** A GET on a connection of its own: `sent` once the request has left whole, `answered` with the answer. */
function sendGet (url: string, requestId: string) {
  const request = get(url, { agent: false, headers: { 'x-request-id': requestId } })
  const sent = new Promise<void>((resolve) => request.on('finish', resolve))
  const answered = new Promise<Response>((resolve, reject) => {
    request.on('response', (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ statusCode: response.statusCode!, headers: response.headers, body }))
    })
    request.on('error', reject)
  })
  return { sent, answered }
}

/** The service's established TCP connections on `port` (/proc/net/tcp), with the bytes each has not read yet. */
async function serverConnections (port: number): Promise<Array<{ unread: number }>> {
  const table = await readFile('/proc/net/tcp', 'utf8')
  return table.split('\n').slice(1).map((line) => line.trim().split(/\s+/)).filter((fields) =>
    fields.length > 4 && Number.parseInt(fields[1]!.split(':')[1]!, 16) === port && fields[3] === '01'
  ).map((fields) => ({ unread: Number.parseInt(fields[4]!.split(':')[1]!, 16) }))
}

t.test('an incoming traceparent continues the caller\'s trace', async (t) => {
  const { receiver, server } = await tracedServer(t)
  const traceId = randomBytes(16).toString('hex')
  const parentId = randomBytes(8).toString('hex')
  const { spans } = await tracedRequest(server, receiver, '/cache/test', { traceparent: `00-${traceId}-${parentId}-01` })
  const root = spans.find((span) => span.kind === 'SERVER')!
  t.equal(root.traceId, traceId, 'the server span is in the caller\'s trace')
  t.equal(root.parentSpanId, parentId, 'below the caller\'s span')
  t.same(tree(spans.filter((span) => span !== root), root.spanId), ['evalsha'])

  t.test('a caller that did not sample its trace is not traced here either', async (t) => {
    const unsampled = randomBytes(16).toString('hex')
    const requestId = randomUUID()
    await fetchResponse(`${server.url}/cache/test`, { headers: { traceparent: `00-${unsampled}-${parentId}-00`, 'x-request-id': requestId } })
    // A sampled request after it: once its trace has arrived, anything of the first would have too.
    await tracedRequest(server, receiver, '/cache/test')
    t.notOk(receiver.spans.some((span) => span.traceId === unsampled), 'no span of the unsampled trace')
    t.notOk(server.logs().find((entry) => entry.reqId === requestId)!.trace_id, 'and no trace id on its log line')
  })
})

t.test('shared work that served a sampled request is kept, whatever the ratio would draw for its own trace', async (t) => {
  // A ratio of 0 starts no trace: only the caller's sampled traceparent traces the request.
  const { receiver, server } = await tracedServer(t, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })
  const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`
  const { spans } = await tracedRequest(server, receiver, '/db/test', { traceparent })
  t.same(sharedWork(t, receiver, waitSpan(spans, 'acessos group commit wait')).tree,
    ['acessos group commit', '  pg.query:count-accesses', '  pg.query:record-accesses'], 'the statement\'s trace, received')
})

t.test('probes and /metrics are not traced, and neither is the work they cause', async (t) => {
  const { receiver, server } = await tracedServer(t)
  for (let round = 0; round < 3; round++) {
    for (const { url } of [...probes, { url: '/metrics' }]) t.equal((await fetchResponse(server.url + url)).statusCode, 200, url)
  }
  // Spans leave in the order they end: once this request's trace has arrived, any span of the probes would have too.
  const { traceId } = await tracedRequest(server, receiver, '/cache/test')
  t.same(receiver.spans.filter((span) => span.traceId !== traceId).map((span) => span.name), [],
    'no span but the request\'s: no server span of a probe, no ping of the readiness probe')
})

t.test('the duration histogram carries trace ids as exemplars, in OpenMetrics when asked for', async (t) => {
  const { receiver, server } = await tracedServer(t)
  const traced = new Map<string, string>()
  for (const { url } of endpoints) traced.set((await tracedRequest(server, receiver, url)).traceId, url)

  const openMetrics = await fetchResponse(`${server.url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0, text/plain; version=0.0.4; q=0.5' } })
  t.match(openMetrics.headers['content-type'], /^application\/openmetrics-text; version=1\.0\.0/)
  t.match(openMetrics.body, /# EOF\n$/, 'OpenMetrics ends with # EOF')
  const exemplars = [...openMetrics.body.matchAll(/^http_request_duration_seconds_bucket\{[^}]*route="([^"]+)"[^}]*\} \d+ # \{(\w+)="([0-9a-f]{32})"\} /gm)]
    .map(([, route, label, traceId]) => ({ route, label, traceId }))
  for (const { url } of endpoints) {
    const ofRoute = exemplars.filter(({ route }) => route === url)
    t.ok(ofRoute.length > 0, `${url} has exemplars`)
    for (const { label, traceId } of ofRoute) {
      t.equal(label, TRACE_ID_LABEL)
      t.equal(traced.get(traceId!), url, `${url}: an exemplar names a trace of a ${url} request`)
    }
  }

  const text = await fetchResponse(`${server.url}/metrics`)
  t.match(text.headers['content-type'], /^text\/plain; version=0\.0\.4/, 'Prometheus text by default')
  t.notMatch(text.body, TRACE_ID_LABEL, 'which has no exemplars')
})

t.test('with tracing off, the preload loads no SDK and requests carry no trace ids', async (t) => {
  const loaded = async (env: NodeJS.ProcessEnv) => (await promisify(execFile)(process.execPath, [
    ...SERVER_ARGS.slice(0, -1), '-e', 'process.stdout.write(String(Object.keys(require.cache).some((path) => path.includes("@opentelemetry/sdk-node"))))'
  ], { cwd: SERVICE_ROOT, env: { PATH: process.env.PATH, ...env } })).stdout
  t.equal(await loaded({}), 'false', 'no endpoint: no SDK')
  t.equal(await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_SDK_DISABLED: 'true' }), 'false', 'OTEL_SDK_DISABLED=true: no SDK')
  t.equal(await loaded({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }), 'true', 'negative control: with an endpoint the SDK is loaded')

  const server = await startServer(t, await isolatedEnv(t))
  const requestId = randomUUID()
  await fetchResponse(`${server.url}/cache/test`, { headers: { 'x-request-id': requestId } })
  await waitUntil(() => server.logs().some((entry) => entry.reqId === requestId), 'the request\'s log line')
  t.notMatch(server.logs().find((entry) => entry.reqId === requestId)!, { trace_id: String }, 'no trace id on the log line')
})

t.test('the image runs the service the way these tests do: the tracing preload, then the server', async (t) => {
  const dockerfile = await readFile(join(SERVICE_ROOT, 'Dockerfile'), 'utf8')
  const cmd = dockerfile.match(/^CMD (.*)$/m)?.[1]
  t.same(JSON.parse(cmd ?? 'null'), ['node', ...SERVER_ARGS])
  const { scripts } = JSON.parse(await readFile(join(SERVICE_ROOT, 'package.json'), 'utf8'))
  t.equal(scripts.start, ['node', ...SERVER_ARGS].join(' '), 'and npm start')
})
