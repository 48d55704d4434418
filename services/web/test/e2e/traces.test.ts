import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { checkBody } from '../helpers/app.js'
import { endpoints } from '../helpers/endpoints.js'
import { decodeSpans, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { fetchResponse, SERVICE_ROOT } from '../helpers/server.js'
import { waitUntil } from '../helpers/timing.js'
import { createStack } from './stack.js'

// The stack as shipped, with tracing on: web (its image, its CMD) exports over
// OTLP/HTTP to a collector in a container beside it, on the network web sends
// from, and the traces of the test's requests arrive there. The collector is a
// stand-in (no image registry is reachable): a Node script in the Node image.

const RECEIVER = 'otlp-receiver'
const stack = await createStack(t, 'e2e-traces', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://${RECEIVER}:4318` })

const up = await stack.make('up')
if (up.code !== 0) throw new Error(`make up failed:\n${up.stderr}${up.stdout}`)

// web's networks are the project's; frontend is the one that is not internal.
const network = `${stack.project}_frontend`
const receiver = `${stack.project}-${RECEIVER}`
t.teardown(async () => {
  await stack.docker('rm', '--force', receiver).catch(() => {})
  await stack.docker('network', 'rm', network).catch(() => {})
})
await stack.docker('run', '--detach', '--name', receiver, '--network', network, '--network-alias', RECEIVER,
  '--volume', `${join(SERVICE_ROOT, 'test', 'e2e', 'fixtures', 'otlp-sink.mjs')}:/otlp-sink.mjs:ro`,
  '--publish', '127.0.0.1::4318', '--read-only', '--user', 'node', 'node:22-alpine', 'node', '/otlp-sink.mjs')
const receiverUrl = `http://${(await stack.docker('port', receiver, '4318/tcp')).trim().split('\n')[0]}`

/** Every span the collector has received so far. */
async function received (): Promise<ReceivedSpan[]> {
  const response = await fetch(`${receiverUrl}/received`).catch(() => undefined)
  if (response?.ok !== true) return []
  const bodies = await response.json() as Array<{ encoding: string, body: string }>
  return bodies.flatMap(({ encoding, body }) => decodeSpans(Buffer.from(body, 'base64'), encoding))
}

async function webLogs (): Promise<Array<Record<string, any>>> {
  const text = await stack.compose('logs', '--no-color', 'web')
  return text.split('\n').filter((line) => line.includes('{')).map((line) => JSON.parse(line.slice(line.indexOf('{'))))
}

t.test('the traces of requests to every endpoint reach a collector beside the stack', async (t) => {
  await waitUntil(async () => (await fetch(`${receiverUrl}/received`).catch(() => undefined))?.ok === true, 'the collector answers')
  const requests = endpoints.map(({ url, schema }) => ({ url, schema, id: randomUUID() }))
  for (const { url, schema, id } of requests) checkBody(t, await fetchResponse(stack.url + url, { headers: { 'x-request-id': id } }), 200, schema)

  let lines: Array<Record<string, any>> = []
  await waitUntil(async () => {
    lines = (await webLogs()).filter((line) => line.msg === 'request completed' && requests.some(({ id }) => id === line.reqId))
    return lines.length === requests.length
  }, 'the request lines')
  // The SDK sends every few seconds (OTEL_BSP_SCHEDULE_DELAY's default, 5 s).
  let spans: ReceivedSpan[] = []
  await waitUntil(async () => {
    spans = await received()
    return lines.every((line) => spans.some((span) => span.traceId === line.trace_id && span.kind === 'SERVER'))
  }, 'a server span for each request')

  for (const { url, id } of requests) {
    const line = lines.find((candidate) => candidate.reqId === id)!
    const root = spans.find((span) => span.traceId === line.trace_id && span.parentSpanId === '')!
    t.match(root, { kind: 'SERVER', name: `GET ${url}`, service: 'web', attributes: { 'http.route': url } }, `${url}: its trace, named by its route`)
    t.ok(spans.some((span) => span.spanId === line.span_id), `${url}: the log line names a span of it`)
  }
  const dbTest = lines.find((line) => line.reqId === requests.find(({ url }) => url === '/db/test')!.id)!
  const wait = spans.find((span) => span.traceId === dbTest.trace_id && span.name === 'acessos group commit wait')
  const shared = spans.find((span) => span.spanId === wait?.links[0]?.spanId)
  t.equal(shared?.name, 'acessos group commit', '/db/test waited for a group statement, linked from its trace')
  t.ok(spans.some((span) => span.parentSpanId === shared?.spanId && span.name.startsWith('pg.query:record-accesses')), 'with its INSERT below it')
  // web started before the collector did, so its first exports may have failed: the log says so once, then that it recovered.
  const collector = (await webLogs()).filter((line) => line.msg?.startsWith('OTLP collector is')).map((line) => line.msg)
  t.equal(collector.at(-1), 'OTLP collector is available', 'the log\'s last word on the collector: available')
  t.ok(collector.filter((msg) => msg === 'OTLP collector is unavailable').length <= 1, 'at most one warning')
})
