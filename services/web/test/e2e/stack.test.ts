import { readFile } from 'node:fs/promises'
import { Agent, get as nodeGet } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { readySchema } from '../../src/routes/health.js'
import { dependencyFailed, statusPingFailed } from '../../src/messages.js'
import { checkBody, respondedInMs } from '../helpers/app.js'
import { checkDocsInBrowser, launchBrowser, openDocs, screenshotPath } from '../helpers/browser.js'
import { endpoints } from '../helpers/endpoints.js'
import { fetchResponse } from '../helpers/server.js'
import { ERROR_WITHIN_MS, timed, waitUntil } from '../helpers/timing.js'
import { composeDocument } from '../helpers/compose.js'
import { createStack, type Stack } from './stack.js'

// The whole stack as `make up` starts it, web in the container built from its
// Dockerfile, driven only through make, docker compose and HTTP on the
// published port. One stack, checked in order: each step leaves it running.

// A network-level cause, as the README promises, never a driver's state
// ("Stream isn't writeable …"). Which one depends on the engine's networking.
const NETWORK_CAUSE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|EPIPE|Connection terminated|terminating connection due to administrator command/

const compose = await composeDocument()
const stack = await createStack(t)

const get = async (path: string, init?: RequestInit) => await fetchResponse(`${stack.url}${path}`, init)
const answers = (path: string, status: number) => async () => (await get(path).catch(() => undefined))?.statusCode === status

/** Every JSON line web logged so far (compose prefixes each with the container's name). */
async function webLogs (): Promise<Array<Record<string, any>>> {
  const text = await stack.compose('logs', '--no-color', 'web')
  return text.split('\n').filter((line) => line.includes('{')).map((line) => JSON.parse(line.slice(line.indexOf('{'))))
}

const up = await timed(() => stack.make('up'))
t.comment(`make up (cold for this project: builds web) took ${Math.round(up.ms)} ms`)
if (up.result.code !== 0) {
  t.fail(`make up failed:\n${up.result.stderr}${up.result.stdout}`)
} else {
  await checkStack(stack)
}

async function checkStack (stack: Stack): Promise<void> {
  const services = Object.keys(compose.services).filter((name) => compose.services[name].profiles === undefined)

  await t.test('after make up every service is running and healthy', async (t) => {
    for (const service of services) {
      t.equal((await stack.inspect(service)).State.Health?.Status, 'healthy', `${service} is healthy`)
    }
  })

  await t.test('the four endpoints answer per contract, bodies checked against the routes\' schemas', async (t) => {
    for (const { url, schema } of endpoints) checkBody(t, await get(url), 200, schema)
    const status = checkBody(t, await get('/'), 200, statusSchema)
    const web = compose.services.web.environment
    t.same(status.servicos, {
      database: { status: 'conectado', host: web.DB_HOST, port: String(web.DB_PORT) },
      cache: { status: 'conectado', host: web.REDIS_HOST, port: String(web.REDIS_PORT) }
    }, 'both dependencies reached at the addresses compose wires')
  })

  await t.test('/health/ready, /docs, /openapi.json and /metrics answer', async (t) => {
    checkBody(t, await get('/health/ready'), 200, readySchema)
    const docs = await get('/docs/')
    t.equal(docs.statusCode, 200)
    t.match(docs.headers['content-type'], /^text\/html/)
    const openapi = await get('/openapi.json')
    t.equal(openapi.statusCode, 200)
    t.same(Object.keys(JSON.parse(openapi.body).paths).filter((path) => endpoints.some(({ url }) => url === path)).sort(),
      endpoints.map(({ url }) => url).sort(), 'documents the four endpoints')
    const metrics = await get('/metrics')
    t.equal(metrics.statusCode, 200)
    t.match(metrics.body, /http_request_duration_seconds_count\{method="GET",route="\/db\/test",status_code="200"\} [1-9]/)
  })

  await t.test('/docs in headless Chromium', async (t) => {
    const browser = await launchBrowser(t)

    await t.test('works against the container (read-only root, no CSP in the way): lists the endpoints and runs GET /cache/test', async (t) => {
      await checkDocsInBrowser(t, browser, stack.url, screenshotPath('e2e-docs'))
    })

    // Negative controls: the same page with the UI's assets blocked must be
    // reported broken, or the check above could pass on a page nobody can use.
    await t.test('every asset blocked: reported, nothing renders', async (t) => {
      const report = await openDocs(browser, stack.url, {
        screenshot: screenshotPath('e2e-docs-assets-blocked'),
        prepare: (page) => page.route('**/docs/static/**', (route) => route.abort())
      })
      t.ok(report.problems.some((problem) => /\/docs\/static\/swagger-ui-bundle\.js failed/.test(problem)), 'the script that failed is named')
      t.ok(report.problems.includes('Swagger UI did not load'), 'the UI is reported missing')
      t.same(report.operations, [])
      t.equal(report.cacheTest, undefined)
    })

    await t.test('only the stylesheet blocked: the page works but is reported', async (t) => {
      const report = await openDocs(browser, stack.url, {
        screenshot: screenshotPath('e2e-docs-css-blocked'),
        prepare: (page) => page.route('**/swagger-ui.css', (route) => route.abort()),
        tryCacheTest: false
      })
      t.ok(report.problems.some((problem) => /\/docs\/static\/swagger-ui\.css failed/.test(problem)), 'the stylesheet is named')
      t.same(report.operations.map(({ path }) => path).filter((path) => endpoints.some(({ url }) => url === path)).sort(),
        endpoints.map(({ url }) => url).sort(), 'the operations are still listed')
    })

    // What a security header added in front of the service (helmet, a proxy)
    // does when it does not allow the UI's scripts.
    await t.test('a Content-Security-Policy that forbids scripts: the violation is reported', async (t) => {
      const report = await openDocs(browser, stack.url, {
        screenshot: screenshotPath('e2e-docs-csp-blocked'),
        prepare: (page) => page.route((url) => url.pathname.replace(/\/$/, '') === '/docs', async (route) => {
          const response = await route.fetch()
          await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': "script-src 'none'" } })
        })
      })
      t.ok(report.problems.some((problem) => /^CSP violation: script-src-elem blocked http:\/\/127\.0\.0\.1:\d+\/docs\/static\/swagger-ui-bundle\.js$/.test(problem)), 'the refused script is reported')
      t.same(report.operations, [], 'nothing renders')
    })
  })

  await t.test('containers are hardened as compose.yaml says', async (t) => {
    const web = await stack.inspect('web')
    t.equal(web.Config.User, 'node', 'web runs as node')
    t.equal(web.HostConfig.ReadonlyRootfs, true, 'web has a read-only root')
    t.same(web.HostConfig.CapDrop, ['ALL'], 'web drops every capability')
    t.same(web.HostConfig.CapAdd ?? [], [], 'and adds none')
    const secrets = await Promise.all(['db_password', 'redis_password'].map(async (name) =>
      (await readFile(join(stack.secretsDir, `${name}.txt`), 'utf8')).trim()))
    for (const service of services) {
      const container = await stack.inspect(service)
      const declared = compose.services[service]
      t.ok(container.HostConfig.SecurityOpt.includes('no-new-privileges:true'), `${service}: no-new-privileges`)
      t.same(container.HostConfig.CapDrop, ['ALL'], `${service}: drops every capability`)
      t.same((container.HostConfig.CapAdd ?? []).map((cap: string) => cap.replace(/^CAP_/, '')).sort(),
        [...(declared.cap_add ?? [])].sort(), `${service}: adds exactly compose.yaml's cap_add`)
      const published = Object.values(container.NetworkSettings.Ports ?? {}).filter((bindings) => bindings !== null)
      t.equal(published.length > 0, service === 'web', `${service} ${service === 'web' ? 'publishes' : 'does not publish'} a port`)
      for (const name of declared.secrets ?? []) {
        t.ok(container.Mounts.some((mount: any) => mount.Destination === `/run/secrets/${name}`), `${service}: ${name} under /run/secrets`)
      }
      const text = JSON.stringify(container)
      for (const secret of secrets) t.notOk(text.includes(secret), `${service}: no password in docker inspect`)
      t.notOk(container.Config.Env.some((entry: string) => /PASSWORD=/.test(entry)), `${service}: no password variable in the environment`)
    }
  })

  await t.test('web logs one JSON line per request, with its reqId', async (t) => {
    const ids = Array.from({ length: 5 }, (_, i) => `e2e-log-${i}-${Date.now()}`)
    for (const id of ids) await get('/cache/test', { headers: { 'x-request-id': id } })
    await waitUntil(async () => (await webLogs()).some((line) => line.reqId === ids.at(-1)), 'the last request is logged')
    const logs = await webLogs()
    for (const id of ids) {
      const lines = logs.filter((line) => line.reqId === id)
      t.equal(lines.length, 1, `${id}: one line`)
      t.match(lines[0], { msg: 'request completed', url: '/cache/test', statusCode: 200 })
    }
  })

  const outages = [
    {
      service: 'cache',
      endpoint: '/cache/test',
      schema: cacheTestSchema,
      erro: dependencyFailed.cache,
      statusKey: 'cache',
      statusErro: statusPingFailed.cache,
      other: { endpoint: '/db/test', schema: dbTestSchema },
      logName: 'Redis'
    },
    {
      service: 'db',
      endpoint: '/db/test',
      schema: dbTestSchema,
      erro: dependencyFailed.database,
      statusKey: 'database',
      statusErro: statusPingFailed.database,
      other: { endpoint: '/cache/test', schema: cacheTestSchema },
      logName: 'PostgreSQL'
    }
  ] as const

  for (const outage of outages) {
    await t.test(`docker compose stop ${outage.service}: 503 at once, the rest keeps working, recovery without restarting web`, async (t) => {
      const webBefore = (await stack.inspect('web')).State.StartedAt
      const logsBefore = (await webLogs()).length
      await stack.compose('stop', outage.service)

      const failed = await get(outage.endpoint)
      t.same(checkBody(t, failed, 503, outage.schema), { status: 'erro', erro: outage.erro })
      // Timed by web's own clock, not this process's around docker's port forwarding.
      const ms = await respondedInMs(webLogs, failed)
      t.ok(ms < ERROR_WITHIN_MS, `${outage.endpoint} answered 503 in ${Math.round(ms)} ms`)
      const status = checkBody(t, await get('/'), 200, statusSchema)
      t.match(status.servicos[outage.statusKey], { status: 'desconectado', erro: outage.statusErro })
      checkBody(t, await get(outage.other.endpoint), 200, outage.other.schema)

      await stack.compose('start', outage.service)
      const recovery = await waitUntil(answers(outage.endpoint, 200), `${outage.endpoint} answers 200 again`)
      t.comment(`${outage.endpoint}: 503 in ${Math.round(ms)} ms; 200 again ${Math.round(recovery)} ms after compose start returned`)
      t.equal((await stack.inspect('web')).State.StartedAt, webBefore, 'web was not restarted')

      const warnings = (await webLogs()).slice(logsBefore).filter((line) => line.msg === `${outage.logName} is unavailable`)
      t.equal(warnings.length, 1, 'one outage warning')
      t.match(warnings[0]?.err?.message, NETWORK_CAUSE, `the warning names the cause: ${String(warnings[0]?.err?.message)}`)
    })
  }

  await t.test('kill -9 of redis-server: the restart policy brings cache back and the counter continues (AOF)', async (t) => {
    const before = checkBody(t, await get('/cache/test'), 200, cacheTestSchema).contador
    // appendfsync everysec: what was written more than a second ago is on disk.
    await sleep(1500)
    const cache = await stack.inspect('cache')
    // From the host: a process cannot SIGKILL its own namespace's init, and
    // `docker kill` counts as a deliberate stop, which no restart policy undoes.
    process.kill(cache.State.Pid, 'SIGKILL')
    const back = await waitUntil(answers('/cache/test', 200), 'cache is back')
    t.comment(`cache answered again ${Math.round(back)} ms after the kill`)
    t.equal((await stack.inspect('cache')).RestartCount, cache.RestartCount + 1, 'restarted by its policy')
    const after = checkBody(t, await get('/cache/test'), 200, cacheTestSchema).contador
    // waitUntil's own successful request counted once too.
    t.equal(after, before + 2, 'no increment was lost')
  })

  let lastTotal = 0
  await t.test('docker compose stop web under load: exit 0, every row written answered 200', async (t) => {
    const before = checkBody(t, await get('/db/test'), 200, dbTestSchema).total_acessos
    // Keep-alive clients, as a balancer in front would hold them.
    const agent = new Agent({ keepAlive: true, maxSockets: 8 })
    t.teardown(() => agent.destroy())
    const answered: number[] = []
    const outcomes: Record<string, number> = {}
    const count = (kind: string) => { outcomes[kind] = (outcomes[kind] ?? 0) + 1 }
    let stopping = false
    // Bounded: each client stops at its first failure once the stop began, or after 2,000 requests.
    const client = async () => {
      for (let i = 0; i < 2000; i++) {
        try {
          const { statusCode, body } = await httpGet(`${stack.url}/db/test`, agent)
          count(`HTTP ${statusCode}`)
          if (statusCode === 200) answered.push(JSON.parse(body).acesso_id)
        } catch (error) {
          count((error as NodeJS.ErrnoException).code ?? (error as Error).message)
          if (stopping) return
        }
      }
    }
    const load = Array.from({ length: 8 }, client)
    await waitUntil(() => answered.length >= 50, 'the load under way: 50 answers')
    stopping = true
    const stop = await timed(() => stack.compose('stop', 'web'))
    await Promise.all(load)
    t.comment(`stop took ${Math.round(stop.ms)} ms; outcomes: ${JSON.stringify(outcomes)}`)
    // Not 1: keep-alive clients did not pin it until SHUTDOWN_TIMEOUT_MS; not 137: nor until compose's SIGKILL.
    t.equal((await stack.inspect('web')).State.ExitCode, 0, 'web exited 0')
    t.same(Object.keys(outcomes).filter((kind) => kind.startsWith('HTTP') && kind !== 'HTTP 200'), [], 'no error answer: the pool outlives the requests')
    t.equal(new Set(answered).size, answered.length, 'distinct ids')

    await stack.compose('start', 'web')
    await waitUntil(answers('/health/ready', 200), 'web is ready again')
    const after = checkBody(t, await get('/db/test'), 200, dbTestSchema)
    // Rows written during the load: after − before − 1 (this last request).
    // Each got its 200; a request dropped mid-flight would be a row beyond them.
    t.equal(after.total_acessos - before - 1, answered.length, 'as many rows as 200 answers: none written without its answer')
    lastTotal = after.total_acessos
  })

  await t.test('make down then make up: totals and counters continue (volumes persist)', async (t) => {
    const counter = checkBody(t, await get('/cache/test'), 200, cacheTestSchema).contador
    t.equal((await stack.make('down')).code, 0, 'make down')
    const again = await timed(() => stack.make('up'))
    t.equal(again.result.code, 0, 'make up')
    t.comment(`make up (warm: image built, volumes initialised) took ${Math.round(again.ms)} ms`)
    t.match(checkBody(t, await get('/db/test'), 200, dbTestSchema), { total_acessos: lastTotal + 1 })
    t.match(checkBody(t, await get('/cache/test'), 200, cacheTestSchema), { contador: counter + 1 })
  })

  await t.test('docker compose down -v then make up starts over', async (t) => {
    await stack.compose('down', '--volumes')
    t.equal((await stack.make('up')).code, 0, 'make up')
    t.match(checkBody(t, await get('/db/test'), 200, dbTestSchema), { acesso_id: 1, total_acessos: 1 })
    t.match(checkBody(t, await get('/cache/test'), 200, cacheTestSchema), { contador: 1 })
    checkBody(t, await get('/integracao'), 200, integracaoSchema)
  })
}

/** One GET through `agent`, read whole; rejects on a socket error. */
async function httpGet (url: string, agent: Agent): Promise<{ statusCode: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const request = nodeGet(url, { agent }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, body }))
      response.on('error', reject)
    })
    request.on('error', reject)
    // No answer within 10 s counts as a failure instead of holding the test.
    request.setTimeout(10_000, () => request.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TIMEOUT' })))
  })
}
