import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { readySchema } from '../../src/routes/health.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { buildTestApp, checkBody, isolatedEnv, type Response } from '../helpers/app.js'
import { startProxy, type Proxy } from '../helpers/proxy.js'
import { fetchResponse, startServer, type RunningServer } from '../helpers/server.js'
import { webStopGracePeriodMs } from '../helpers/compose.js'
import { endpoints } from '../helpers/endpoints.js'
import { rawRequest } from '../helpers/raw-http.js'
import { connectRedis, services, withMaintenanceClient } from '../helpers/services.js'
import { timed, waitUntil } from '../helpers/timing.js'

// Each test has its own proxy, server, database and Redis DB, and mostly waits.
t.jobs = 3

// compose.yaml gives the web service this long between SIGTERM and SIGKILL.
const STOP_GRACE_PERIOD_MS = await webStopGracePeriodMs()

// Requests that reach the database are held in flight by freezing it; the long
// dependency timeout keeps them waiting instead of failing after the default one.
const HELD_MS = '30000'

// The contract's endpoints that wait on PostgreSQL, so freezing it holds them in flight.
const routes = endpoints.filter(({ url }) => url !== '/cache/test')

interface Outcome {
  route: typeof routes[number]
  response?: Response
  error?: unknown
}

async function request (base: string, route: typeof routes[number]): Promise<Outcome> {
  try {
    return { route, response: await fetchResponse(`${base}${route.url}`) }
  } catch (error) {
    return { route, error }
  }
}

/** A server whose database answers nothing until `db.restore()`, with `count` requests waiting on it. */
async function serverUnderLoad (t: Test, count: number, env: NodeJS.ProcessEnv = {}) {
  const db = await startProxy(t, services.db)
  const server = await startServer(t, { ...await isolatedEnv(t), DB_PORT: String(db.port), DEPENDENCY_TIMEOUT_MS: HELD_MS, ...env })
  // Migrated and connected before the freeze, so what waits is the requests.
  await waitUntil(async () => (await fetchResponse(`${server.url}/db/test`)).statusCode === 200, 'a first 200')
  db.freeze()
  const inFlight = Array.from({ length: count }, (_, index) => request(server.url, routes[index % routes.length]!))
  await waitUntil(async () => await requestsRead(server) >= count, `the server has read all ${count} requests`)
  return { db, server, inFlight }
}

/**
 * The connections to the server whose request it has read: accepted, and nothing
 * left unread in their receive queue (/proc/net/tcp, loopback IPv4).
 */
async function requestsRead (server: RunningServer): Promise<number> {
  const port = Number(new URL(server.url).port).toString(16).toUpperCase().padStart(4, '0')
  const ESTABLISHED = '01'
  return (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1).filter((line) => {
    const [, local, , state, queues] = line.trim().split(/\s+/)
    return local?.endsWith(`:${port}`) && state === ESTABLISHED && queues?.endsWith(':00000000')
  }).length
}

async function refusesConnections (server: RunningServer): Promise<boolean> {
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(server.url).port) })
  try {
    await once(socket, 'connect')
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED'
  } finally {
    socket.destroy()
  }
}

/** Signals the server while its requests are held, and says whether it refused new connections before any was answered. */
async function stop (server: RunningServer, signal: NodeJS.Signals, db: Proxy) {
  const signalled = performance.now()
  server.child.kill(signal)
  await waitUntil(() => refusesConnections(server), 'new connections refused')
  await db.restore()
  const code = await server.exited
  return { code, exitedAfterMs: performance.now() - signalled }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`on ${signal} under load`, async (t) => {
    const { db, server, inFlight } = await serverUnderLoad(t, 60)
    const { code, exitedAfterMs } = await stop(server, signal, db)
    const outcomes = await Promise.all(inFlight)

    await t.test('every request accepted before the signal gets a complete answer, none a reset', async (t) => {
      const failures = outcomes.filter((outcome) => outcome.error !== undefined)
      t.same(failures.map(({ route, error }) => `${route.url}: ${String((error as Error).cause ?? error)}`), [])
      for (const { route, response } of outcomes) {
        if (response !== undefined) checkBody(t, response, 200, route.schema)
      }
    })

    await t.test(`exits 0 once they are answered, within compose's ${STOP_GRACE_PERIOD_MS} ms`, async (t) => {
      t.equal(code, 0)
      t.ok(exitedAfterMs < STOP_GRACE_PERIOD_MS, `exited ${Math.round(exitedAfterMs)} ms after the signal`)
      t.match(server.output(), `"signal":"${signal}","msg":"shutting down"`)
    })
  })
}

t.test('a second signal exits at once, without waiting for the requests in flight', async (t) => {
  const { server, inFlight } = await serverUnderLoad(t, 10)
  server.child.kill('SIGTERM')
  await waitUntil(() => server.output().includes('"msg":"shutting down"'), 'the first signal handled')
  t.equal(server.child.exitCode, null, 'still draining after the first signal')
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 1)
  t.match(server.output(), 'second SIGTERM, exiting')
  const outcomes = await Promise.all(inFlight)
  t.ok(outcomes.every(({ error }) => error !== undefined), 'the requests still held were not answered')
})

t.test('a request that never ends cannot hold the exit past SHUTDOWN_TIMEOUT_MS', async (t) => {
  const timeoutMs = 1500
  const { server, inFlight } = await serverUnderLoad(t, 10, { SHUTDOWN_TIMEOUT_MS: String(timeoutMs) })
  const { result: code, ms } = await timed(async () => {
    server.child.kill('SIGTERM')
    return await server.exited
  })
  t.equal(code, 1, 'the timeout is not a clean exit')
  t.match(server.output(), `killed by timeout (${timeoutMs}ms)`, 'ended by the shutdown timeout')
  t.ok(ms >= timeoutMs, `exited ${Math.round(ms)} ms after the signal, not before the timeout`)
  const outcomes = await Promise.all(inFlight)
  t.ok(outcomes.every(({ error }) => error !== undefined), 'the requests were still held when it exited')
})

t.test(`the default SHUTDOWN_DELAY_MS plus SHUTDOWN_TIMEOUT_MS is shorter than compose's ${STOP_GRACE_PERIOD_MS} ms stop_grace_period`, async (t) => {
  const { SHUTDOWN_DELAY_MS: delay, SHUTDOWN_TIMEOUT_MS: timeout } = loadConfig({})
  t.ok(delay + timeout < STOP_GRACE_PERIOD_MS, `${delay} + ${timeout} ms`)
})

t.test('with SHUTDOWN_DELAY_MS, a signal drains first: readiness fails at once, requests are served with Connection: close until the delay ends, then the listener closes', async (t) => {
  const delayMs = 2000
  const server = await startServer(t, { ...await isolatedEnv(t), SHUTDOWN_DELAY_MS: String(delayMs) })
  const port = Number(new URL(server.url).port)
  await waitUntil(async () => (await fetchResponse(`${server.url}/health/ready`)).statusCode === 200, 'ready')
  // HTTP/1.1 keeps the connection unless told otherwise: rawRequest returns early only when the server closes it.
  const keepAliveRequest = (url: string) => `GET ${url} HTTP/1.1\r\nHost: web\r\n\r\n`

  const signalled = performance.now()
  server.child.kill('SIGTERM')
  await waitUntil(() => server.output().includes('"msg":"shutting down"'), 'the signal handled')
  t.same(checkBody(t, await fetchResponse(`${server.url}/health/ready`), 503, readySchema), {
    status: 'erro', erro: 'Serviço não está pronto', falhas: ['encerrando']
  }, 'readiness fails with encerrando at once')

  // New connections until the listener closes: each is served, and told to close.
  let served = 0
  for (;;) {
    const response = await rawRequest(port, keepAliveRequest('/db/test')).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') return 'refused' as const
      throw error
    })
    if (response === 'refused') break
    if (response === undefined) {
      // Reset while waiting to be accepted, as the listener closed.
      if (await refusesConnections(server)) break
      throw new Error('a request during the drain got no answer')
    }
    checkBody(t, response, 200, dbTestSchema)
    t.equal(response.headers.connection, 'close', 'the answer asks its client to close, and the server closes it')
    served++
  }
  t.ok(served >= 1, `${served} new connections served during the drain`)
  const closedAfterMs = performance.now() - signalled
  t.ok(closedAfterMs >= delayMs - 100, `the listener closed ${Math.round(closedAfterMs)} ms after the signal, not before the delay`)
  t.equal(await server.exited, 0)
})

t.test('closing the app ends every PostgreSQL and Redis connection it opened', async (t) => {
  const { app, config } = await buildTestApp(t)
  await Promise.all(Array.from({ length: 20 }, () => app.inject('/integracao')))
  const redis = connectRedis(t, config.REDIS_DB)
  const webClients = async () => (await redis.client('LIST') as string).split('\n')
    .filter((line) => line.includes(' name=web ') && line.includes(` db=${config.REDIS_DB} `)).length
  const webBackends = async () => await withMaintenanceClient(async (client) => (await client.query(
    "SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web'", [config.DB_NAME]
  )).rows[0].count as number)
  t.ok(await webBackends() > 0 && await webClients() > 0, 'connected before')

  await app.close()
  t.equal(app.postgresPool.stats().connections, 0, 'the pool has ended its connections')
  t.equal(await webClients(), 0, 'no Redis client left')
  // The server notices a client's goodbye asynchronously.
  await waitUntil(async () => await webBackends() === 0, 'no PostgreSQL backend left')
})
