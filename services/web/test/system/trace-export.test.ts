import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { statusSchema } from '../../src/routes/status.js'
import { dependencyFailed } from '../../src/messages.js'
import { checkBody, isolatedEnv, level, respondedInMs } from '../helpers/app.js'
import { endpoints } from '../helpers/endpoints.js'
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js'
import { startProxy } from '../helpers/proxy.js'
import { fetchResponse, startServer, type RunningServer } from '../helpers/server.js'
import { services } from '../helpers/services.js'
import { ERROR_WITHIN_MS, STATUS_WITHIN_MS, UNHURRIED, waitUntil } from '../helpers/timing.js'

// A collector that fails must never reach a request: spans wait in a bounded
// queue, exports give up after OTEL_EXPORTER_OTLP_TIMEOUT (short here, so that
// a frozen collector fails within the test), and the log says it once.

const EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '20', OTEL_EXPORTER_OTLP_TIMEOUT: '1000' }
const UNAVAILABLE = 'OTLP collector is unavailable'
const AVAILABLE = 'OTLP collector is available'

const lines = (server: RunningServer, atLevel: number, msg: string, from = 0) => server.logs().slice(from).filter((line) => line.level === atLevel && line.msg === msg)

/** Every endpoint of the contract answered, each as it does without tracing and within the bound of `/`, by the server's own clock. */
async function everyEndpointAnswers (t: Test, server: RunningServer) {
  for (const { url, schema } of endpoints) {
    const response = await fetchResponse(server.url + url)
    checkBody(t, response, 200, schema)
    const ms = await respondedInMs(server.logs, response)
    t.ok(ms < STATUS_WITHIN_MS, `${url} answered in ${Math.round(ms)} ms`)
  }
}

/**
 * Requests until one has its spans at the collector (its log line names its
 * trace): on a busy machine an export may overrun its timeout and be dropped,
 * which is the point of the timeout, so no one request is waited for.
 */
async function arrives (server: RunningServer, receiver: OtlpReceiver, url = '/cache/test') {
  const sent = new Set<string>()
  await waitUntil(async () => {
    const requestId = randomUUID()
    sent.add(requestId)
    await fetchResponse(server.url + url, { headers: { 'x-request-id': requestId } })
    const traces = new Set(server.logs().filter((line) => sent.has(String(line.reqId)) && line.msg === 'request completed').map((line) => line.trace_id))
    return receiver.spans.some((span) => traces.has(span.traceId) && span.kind === 'SERVER')
  }, 'a request\'s spans at the collector')
}

const failures = [
  { name: 'down (connections refused)', fail: async (receiver: OtlpReceiver) => await receiver.stop(), recover: async (receiver: OtlpReceiver) => await receiver.start(), countsExports: false },
  { name: 'refusing every export (503)', fail: async (receiver: OtlpReceiver) => { receiver.mode = 'refuse' }, recover: async (receiver: OtlpReceiver) => { receiver.mode = 'accept' }, countsExports: true },
  { name: 'frozen (connects, never answers)', fail: async (receiver: OtlpReceiver) => { receiver.mode = 'freeze' }, recover: async (receiver: OtlpReceiver) => { receiver.mode = 'accept' }, countsExports: true }
] as const

for (const failure of failures) {
  t.test(`a collector ${failure.name}: every endpoint answers as without tracing; one warning, one line on recovery`, async (t) => {
    const receiver = await startOtlpReceiver(t)
    const server = await startServer(t, { ...await isolatedEnv(t), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...EXPORT })
    await arrives(server, receiver)
    await waitUntil(() => lines(server, level.info, AVAILABLE).length > 0, 'the collector reported available')

    const outage = server.logs().length
    await failure.fail(receiver)
    await everyEndpointAnswers(t, server)
    await waitUntil(() => lines(server, level.warn, UNAVAILABLE, outage).length > 0, 'the failing export reported')
    if (failure.countsExports) {
      // More exports fail after the first; each request ends spans for one.
      const failedBefore = receiver.exports()
      await waitUntil(async () => {
        await fetchResponse(`${server.url}/cache/test`)
        return receiver.exports() >= failedBefore + 3
      }, 'three more exports failing')
    }
    await everyEndpointAnswers(t, server)
    t.equal(lines(server, level.warn, UNAVAILABLE, outage).length, 1, 'one warning for the whole outage')
    t.ok(lines(server, level.warn, UNAVAILABLE, outage)[0]!.err, 'with its cause')

    await failure.recover(receiver)
    await arrives(server, receiver)
    await waitUntil(() => lines(server, level.info, AVAILABLE, outage).length === 1, 'the recovery reported')
    t.equal(lines(server, level.warn, UNAVAILABLE, outage).length, 1, 'still one warning')
  })
}

t.test('with the collector frozen, PostgreSQL\'s and Redis\' outage guarantees still hold', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const redis = await startProxy(t, services.redis)
  const server = await startServer(t, { ...await isolatedEnv(t), REDIS_PORT: String(redis.port), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...EXPORT })
  await arrives(server, receiver)
  receiver.mode = 'freeze'
  redis.freeze()
  const cache = await fetchResponse(`${server.url}/cache/test`)
  t.same(checkBody(t, cache, 503, cacheTestSchema), { status: 'erro', erro: dependencyFailed.cache })
  const cacheMs = await respondedInMs(server.logs, cache)
  t.ok(cacheMs < ERROR_WITHIN_MS, `/cache/test answered 503 in ${Math.round(cacheMs)} ms`)
  const status = await fetchResponse(`${server.url}/`)
  t.equal(checkBody(t, status, 200, statusSchema).servicos.cache.status, 'desconectado')
  const statusMs = await respondedInMs(server.logs, status)
  t.ok(statusMs < STATUS_WITHIN_MS, `/ answered in ${Math.round(statusMs)} ms`)
  await redis.restore()
})

t.test('with the collector frozen, spans beyond the export queue are dropped, not kept', async (t) => {
  const QUEUE = 50
  const REQUESTS = 200
  const receiver = await startOtlpReceiver(t)
  const server = await startServer(t, {
    ...await isolatedEnv(t), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, ...EXPORT, OTEL_BSP_MAX_QUEUE_SIZE: String(QUEUE)
  })
  await arrives(server, receiver)
  await waitUntil(() => lines(server, level.info, AVAILABLE).length > 0, 'the collector reported available')
  const before = receiver.spans.length
  const outage = server.logs().length
  receiver.mode = 'freeze'
  for (let sent = 0; sent < REQUESTS; sent += 20) {
    await Promise.all(Array.from({ length: 20 }, async () => t.equal((await fetchResponse(`${server.url}/cache/test`)).statusCode, 200)))
  }
  receiver.mode = 'accept'
  // The export that was frozen times out, then the queue leaves; then a request's spans find room.
  await waitUntil(() => lines(server, level.info, AVAILABLE, outage).length === 1, 'the recovery reported')
  const kept = receiver.spans.length - before
  // Each request: its server span and its Redis call.
  const created = REQUESTS * 2
  // Held at most: the queue, and the one batch being exported (no larger than the queue).
  t.ok(kept > 0 && kept <= 2 * QUEUE, `${kept} of the ${created} spans ended during the outage were kept: at most twice the queue (${QUEUE})`)
})

t.test('spans still queued at shutdown are sent before the process exits', async (t) => {
  const receiver = await startOtlpReceiver(t)
  // Batches would leave only after an hour: what arrives was sent by the shutdown. The
  // flush is bounded by the dependency timeout, which a starved machine must not reach here.
  const server = await startServer(t, {
    ...await isolatedEnv(t), ...UNHURRIED, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '3600000'
  })
  const requestId = randomUUID()
  await fetchResponse(`${server.url}/cache/test`, { headers: { 'x-request-id': requestId } })
  await waitUntil(() => server.logs().some((line) => line.reqId === requestId), 'the request\'s log line')
  const traceId = server.logs().find((line) => line.reqId === requestId)!.trace_id
  t.notOk(receiver.spans.some((span) => span.traceId === traceId), 'nothing exported before the shutdown')
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'a clean exit')
  t.ok(receiver.spans.some((span) => span.traceId === traceId && span.kind === 'SERVER'), 'the request\'s server span arrived')
})

t.test('with the collector frozen, shutdown gives up on the last spans after the dependency timeout and exits cleanly', async (t) => {
  const receiver = await startOtlpReceiver(t)
  // An export that would wait longer than the shutdown is allowed: only the flush's own bound ends it in time.
  const server = await startServer(t, {
    ...await isolatedEnv(t), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '3600000', OTEL_EXPORTER_OTLP_TIMEOUT: '3600000'
  })
  t.equal((await fetchResponse(`${server.url}/cache/test`)).statusCode, 200)
  receiver.mode = 'freeze'
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'exits 0, not killed by the shutdown timeout')
  t.notOk(server.logs().some((line) => String(line.msg).startsWith('killed by timeout')), 'no timeout reported')
})
