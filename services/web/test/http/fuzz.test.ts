import { randomInt } from 'node:crypto'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { checkBody, isolatedEnv, level } from '../helpers/app.js'
import { rawRequest } from '../helpers/raw-http.js'
import { fetchResponse, startServer } from '../helpers/server.js'
import { UNHURRIED } from '../helpers/timing.js'

// Bounded by count: the test's worth is in what the requests get, not in how fast they go.
const WELL_FORMED = 1500
const MALFORMED = 700
const CONCURRENCY = 16

// Set FUZZ_SEED to replay a failing run; every run prints its seed.
const seed = Number(process.env.FUZZ_SEED ?? randomInt(2 ** 31))

/** mulberry32: small, fast, and the same sequence for the same seed. */
function generator (state: number) {
  const next = () => {
    state = (state + 0x6d2b79f5) | 0
    let value = Math.imul(state ^ (state >>> 15), 1 | state)
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value
    return ((value ^ (value >>> 14)) >>> 0) / 2 ** 32
  }
  const int = (below: number) => Math.floor(next() * below)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const text = (length: number, alphabet: string) => Array.from({ length }, () => alphabet[int(alphabet.length)]).join('')
  return { next, int, pick, text }
}

const random = generator(seed)

/** What came back; status 0 when the server closed the connection without an answer. */
interface Outcome { what: string, status: number, contentType: string, ended?: boolean }

const PATHS = ['/', '/db/test', '/cache/test', '/integracao', '/nada', '/db', '/health/live', '/docs', '/metrics'] as const
const METHODS = ['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'SEARCH'] as const
const URL_SAFE = 'abcXYZ019-._~!$&\'()*+,;=:@/?'
const PIECES = ['%', '%zz', '%00', '%E0%A4%A', '%F0%9F%98%80', '..', '//', '?', '&', '=', '#', '[]', '__proto__', 'ç', '\u2028', ' ']
const CONTENT_TYPES = ['application/json', 'application/json; charset=latin1', 'text/plain', 'text/html', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '*/*', ';;;']

function randomTarget (): string {
  let target: string = random.pick(PATHS)
  for (let piece = random.int(4); piece > 0; piece--) {
    target += random.next() < 0.5 ? random.pick(PIECES) : random.text(random.int(12), URL_SAFE)
  }
  if (random.next() < 0.1) target += random.text(random.int(6000), URL_SAFE)
  return target
}

function randomHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  if (random.next() < 0.3) headers['content-type'] = random.pick(CONTENT_TYPES)
  if (random.next() < 0.3) headers.accept = random.pick(['text/html', '*/*', 'application/xml', '', 'application/json;q=0'])
  if (random.next() < 0.2) headers['x-request-id'] = random.text(random.int(200), URL_SAFE + ' ')
  if (random.next() < 0.2) headers[`x-${random.text(1 + random.int(10), 'abcdef-')}`] = random.text(random.int(3000), URL_SAFE)
  return headers
}

function randomBody (): string | undefined {
  if (random.next() < 0.5) return undefined
  return random.pick([
    () => '{"a":' + random.text(random.int(20), '{}[]",:0123456789'),
    () => JSON.stringify({ status: 'erro', n: random.int(1000) }),
    () => random.text(random.int(40_000), URL_SAFE)
  ])()
}

interface WellFormed { method: string, target: string, headers: Record<string, string>, body: string | undefined }

function wellFormed (): WellFormed {
  const method = random.pick(METHODS)
  const target = randomTarget()
  return { method, target, headers: randomHeaders(), body: method === 'GET' || method === 'HEAD' ? undefined : randomBody() }
}

/** Undefined when fetch refuses the target itself: nothing reached the server. */
async function sendWellFormed (base: string, { method, target, headers, body }: WellFormed): Promise<Outcome | undefined> {
  const what = `${method} ${target.slice(0, 120)}`
  try {
    const response = await fetch(`${base}${target}`, { method, headers, body, redirect: 'manual' })
    await response.arrayBuffer()
    return { what, status: response.status, contentType: response.headers.get('content-type') ?? '' }
  } catch (error) {
    // fetch refuses some targets itself (an invalid URL): nothing reached the server.
    if (error instanceof TypeError && !('cause' in error && error.cause instanceof Error && 'code' in error.cause)) {
      return undefined
    }
    throw new Error(`${what}: ${String((error as Error).cause ?? error)}`)
  }
}

const TEMPLATE = 'GET /db/test?a=1 HTTP/1.1\r\nHost: web\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}'

/** A request corrupted at random, or random bytes, for a raw socket. */
function malformed (): Buffer {
  if (random.next() < 0.15) return Buffer.from(Array.from({ length: random.int(512) }, () => random.int(256)))
  const bytes = [...Buffer.from(TEMPLATE)]
  for (let mutation = 1 + random.int(6); mutation > 0; mutation--) {
    const at = random.int(bytes.length + 1)
    const kind = random.int(4)
    if (kind === 0) bytes[at] = random.int(256)
    else if (kind === 1) bytes.splice(at, 0, ...Array.from({ length: 1 + random.int(8) }, () => random.int(256)))
    else if (kind === 2) bytes.splice(at, 1 + random.int(8))
    else bytes.splice(at, 0, ...Buffer.from(random.pick(['\r\n', '\n', ':', ' ', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 99\r\n', '\0'])))
  }
  return Buffer.from(bytes)
}

/**
 * A parser in this process, fed the same bytes, tells whether Node's HTTP parser
 * given them and nothing more still waits for the rest of their first request.
 * Such a request is answered only once the client ends it, and a complete one
 * ended by the client is withdrawn unanswered: each is sent the way that gets its answer.
 */
const probe = createHttpServer()
/** The probe's side of each connection, by the client's port, and whether its first request has settled. */
const probed = new Map<number, { socket: Socket, settled: boolean }>()
probe.on('connection', (socket: Socket) => probed.set(socket.remotePort!, { socket, settled: false }))
probe.on('request', (request, response) => {
  request.resume()
  request.on('end', () => {
    probed.get(request.socket.remotePort!)!.settled = true
    response.end()
  })
})
probe.on('clientError', (_error, socket: Socket) => {
  probed.get(socket.remotePort!)!.settled = true
  socket.destroy()
})
probe.listen(0, '127.0.0.1')
await once(probe, 'listening')
t.teardown(() => { probe.closeAllConnections(); probe.close() })

async function cutShort (bytes: Buffer): Promise<boolean> {
  const client = connect({ host: '127.0.0.1', port: (probe.address() as { port: number }).port })
  client.on('error', () => {})
  await once(client, 'connect')
  client.write(bytes)
  const nextTurn = async () => await new Promise((resolve) => setImmediate(resolve))
  while (!probed.has(client.localPort!)) await nextTurn()
  const state = probed.get(client.localPort!)!
  // The parser reads as the bytes arrive; a turn after the last, it has settled or waits.
  while (!state.settled && state.socket.bytesRead < bytes.length && !state.socket.destroyed) await nextTurn()
  await nextTurn()
  client.destroy()
  probed.delete(client.localPort!)
  return !state.settled
}

/** Undefined for bytes that begin no request (the parser skips empty lines before one): nothing to answer. */
async function sendMalformed (port: number, bytes: Buffer): Promise<Outcome | undefined> {
  if (/^[\r\n]*$/.test(bytes.toString('latin1'))) return undefined
  const ended = await cutShort(bytes)
  const response = await rawRequest(port, bytes, { end: ended, firstAnswer: true })
  return { ended, what: JSON.stringify(bytes.toString('latin1').slice(0, 120)), status: response?.statusCode ?? 0, contentType: String(response?.headers['content-type'] ?? '') }
}

/** Sends every item, CONCURRENCY at a time; the outcomes of those that reached the server. */
async function sendAll<T> (items: T[], send: (item: T) => Promise<Outcome | undefined>): Promise<Outcome[]> {
  const outcomes: Outcome[] = []
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) {
      const outcome = await send(items[next++]!)
      if (outcome !== undefined) outcomes.push(outcome)
    }
  }))
  return outcomes
}

t.test(`a few thousand random and malformed requests (seed ${seed}) get no 5xx, no HTML error, and leave the process serving`, async (t) => {
  // Not about the dependency timeout: a busy machine must not turn a slow query into a 503.
  const server = await startServer(t, { ...await isolatedEnv(t), ...UNHURRIED })
  const port = Number(new URL(server.url).port)
  // Drawn before sending, so that a seed always gives the same requests.
  const wellFormedRequests = Array.from({ length: WELL_FORMED }, wellFormed)
  const malformedRequests = Array.from({ length: MALFORMED }, malformed)
  const outcomes = [
    ...await sendAll(wellFormedRequests, async (request) => await sendWellFormed(server.url, request)),
    ...await sendAll(malformedRequests, async (bytes) => await sendMalformed(port, bytes))
  ]
  t.comment(`${outcomes.length} requests reached the server, ${outcomes.filter(({ ended }) => ended === true).length} of them cut short and then ended`)

  t.same(outcomes.filter(({ status }) => status === 0).slice(0, 10), [], 'every request answered')
  // 408: the server answered only once its own timeout gave up on the request.
  t.same(outcomes.filter(({ status }) => status === 408).slice(0, 10), [], 'no answer late')

  t.same(outcomes.filter(({ status }) => status >= 500).slice(0, 10), [], 'no 5xx')
  t.same(outcomes.filter(({ status, contentType }) => status >= 400 && /html/.test(contentType)).slice(0, 10), [], 'no HTML error')

  t.equal(server.child.exitCode, null, 'the process is alive')
  checkBody(t, await fetchResponse(`${server.url}/`), 200, statusSchema)
  const errors = server.logs().filter((line) => (line.level as number) >= level.error)
  t.same(errors.slice(0, 5), [], 'nothing logged as an error')
})
