// Benchmark of the web service (services/web/dist/server.js) against a bare
// node:http server doing the same database and cache work (minimal-server.mjs).
//
// It runs on loopback only, on a database and a Redis logical DB of its own that
// it removes at the end (also on error or Ctrl-C), and stops every process it
// started. See README.md for what each number means.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import pg from 'pg'
import { Redis } from 'ioredis'

const BENCH_DIR = fileURLToPath(new URL('.', import.meta.url))
const WEB_DIR = fileURLToPath(new URL('../services/web/', import.meta.url))

const settings = {
  duration: positiveInt('DURATION', 5), // seconds measured per endpoint, server and round
  rounds: positiveInt('ROUNDS', 3), // alternating rounds per endpoint; the median one counts
  warmup: positiveInt('WARMUP', 2), // seconds of load thrown away first, so the JIT and pools are warm
  connections: positiveInt('CONNECTIONS', 32),
  growthRows: positiveInt('GROWTH_ROWS', 1_000_000),
  startupRuns: positiveInt('STARTUP_RUNS', 3),
  poolMax: positiveInt('DB_POOL_MAX', 10), // both servers' pool size
  endpoints: (process.env.ENDPOINTS ?? '/,/db/test,/cache/test,/integracao').split(',').filter(Boolean),
  // Extra node flags for the service under load only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  serviceNodeArgs: (process.env.SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  // Where the service's log goes; a file costs disk writes the numbers should not include.
  serviceLog: process.env.SERVICE_LOG || '/dev/null'
}

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' }
const REDIS = { host: '127.0.0.1', port: 6379 }

const TARGETS = { throughputRatio: 0.8, growthRatio: 1.5, rssRatio: 1.5, startupMs: 1000 }

// Everything that must be undone, whatever way the run ends.
const resources = {
  children: new Set(),
  database: undefined, // name of the bench database once created
  redisDb: undefined, // number of the claimed Redis logical DB
  loadRun: undefined // the autocannon run in progress
}

function positiveInt (name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return value
}

// Progress goes to stderr; if that is closed (`make bench | head`), writing must
// not throw, or the error would loop through the handlers below instead of cleaning up.
process.stderr.on('error', () => {})
process.stdout.on('error', () => {})

function log (message) {
  process.stderr.write(`[bench] ${message}\n`)
}

// ---------------------------------------------------------------- databases

function pgClient (database) {
  return new pg.Client({ ...PG, database, application_name: 'bench' })
}

/** Runs `work` with a connected client and always disconnects it. */
async function withPg (database, work) {
  const client = pgClient(database)
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

async function createDatabase () {
  const name = `bench_${randomBytes(4).toString('hex')}`
  await withPg('postgres', (client) => client.query(`CREATE DATABASE ${name}`))
  resources.database = name
  return name
}

async function dropDatabase () {
  const name = resources.database
  if (name === undefined) return
  // FORCE: a child killed mid-query may leave a backend behind for a moment.
  await withPg('postgres', (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  resources.database = undefined
  log(`dropped database ${name}`)
}

// Checks emptiness and marks the DB as taken in one atomic step, so two runs
// (or a test suite) started together cannot pick the same one.
const CLAIM_IF_EMPTY = "if redis.call('DBSIZE') == 0 then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0"

async function claimRedisDb () {
  const client = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 0 })
  await client.connect()
  try {
    for (let db = 1; db <= 15; db++) {
      await client.select(db)
      if (await client.eval(CLAIM_IF_EMPTY, 1, 'bench:claimed', String(process.pid)) === 1) {
        resources.redisDb = db
        return db
      }
    }
    throw new Error('no empty Redis logical DB among 1..15')
  } finally {
    client.disconnect()
  }
}

async function flushRedisDb () {
  const db = resources.redisDb
  if (db === undefined) return
  const client = new Redis({ ...REDIS, db, lazyConnect: true, maxRetriesPerRequest: 0 })
  await client.connect()
  try {
    await client.flushdb()
  } finally {
    client.disconnect()
  }
  resources.redisDb = undefined
  log(`flushed Redis DB ${db}`)
}

// ---------------------------------------------------------------- processes

/** A port nobody listens on right now; the server binds it a moment later. */
async function freePort () {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  server.close()
  await once(server, 'close')
  return port
}

function serverEnv (port, database, redisDb) {
  return {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST: '127.0.0.1',
    DB_HOST: PG.host,
    DB_PORT: String(PG.port),
    DB_NAME: database,
    DB_USER: PG.user,
    DB_POOL_MAX: String(settings.poolMax),
    REDIS_HOST: REDIS.host,
    REDIS_PORT: String(REDIS.port),
    REDIS_DB: String(redisDb),
    LOG_LEVEL: 'info'
  }
}

/**
 * Starts a node process. Its stdout (the request log) goes to `logFile`,
 * /dev/null by default, so logging costs what it costs in production minus the
 * disk; the tail of stderr is kept to explain an early exit.
 */
function startNode ({ name, args, cwd, env, ipc = false, logFile = '/dev/null' }) {
  const stdout = openSync(logFile, 'a')
  const child = spawn(process.execPath, args, {
    cwd,
    env,
    stdio: ['ignore', stdout, 'pipe', ...(ipc ? ['ipc'] : [])]
  })
  closeSync(stdout) // the child has its own copy
  child.label = name
  child.stderrTail = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk) => { child.stderrTail = (child.stderrTail + chunk).slice(-4000) })
  resources.children.add(child)
  child.once('exit', (code, signal) => {
    resources.children.delete(child)
    // A server that was up and dies explains the failure that follows (refused
    // connections, a missing /proc entry); one that never came up is reported by launch().
    if (child.up && !child.stopping && !interrupted) log(`${name} exited unexpectedly (${code ?? signal}); its stderr:\n${child.stderrTail}`)
  })
  return child
}

function startService (port, database, redisDb, nodeArgs = []) {
  return startNode({ name: 'service', args: [...nodeArgs, 'dist/server.js'], cwd: WEB_DIR, env: serverEnv(port, database, redisDb), logFile: settings.serviceLog })
}

function startMinimal (port, database, redisDb) {
  // The IPC channel lets the minimal server exit by itself if this process dies.
  return startNode({ name: 'minimal', args: ['minimal-server.mjs'], cwd: BENCH_DIR, env: serverEnv(port, database, redisDb), ipc: true })
}

/**
 * Starts a server on a free port (`start(port)` spawns it) and waits for its
 * first 200 on GET /; `startupMs` is the time from the spawn to that answer.
 */
async function launch (start, attempts = 3) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const startedAt = performance.now()
  const child = start(port)
  try {
    const startupMs = await waitForOk(child, url, startedAt)
    child.up = true
    return { child, pid: child.pid, url, startupMs }
  } catch (err) {
    const exitedByItself = child.exitCode !== null || child.signalCode !== null
    await stopProcess(child)
    // Someone else may have taken the port between freePort() and the listen
    // (the service logs that to its stdout, so the cause cannot be read here).
    if (exitedByItself && attempts > 1 && !interrupted) {
      log(`${child.label} exited before answering; retrying on another port`)
      return launch(start, attempts - 1)
    }
    throw err
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
async function stopProcess (child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.stopping = true
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

const CLOCK_TICKS = clockTicksPerSecond()

function clockTicksPerSecond () {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100
  } catch {
    return 100 // the Linux default
  }
}

/** User + system CPU time a live process has used so far, in ms (/proc/<pid>/stat fields 14 and 15). */
function cpuMs (pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name, field 2, may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000
}

/** Peak resident set size (VmHWM) of a live process, in MiB. */
function peakRssMiB (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)[1])
  return kib / 1024
}

// ---------------------------------------------------------------- HTTP

/** One GET on a fresh connection; resolves with status and body, rejects on socket errors. */
function httpGet (url) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode, body }))
    })
    request.on('error', reject)
    request.setTimeout(2000, () => request.destroy(new Error('timed out')))
  })
}

/**
 * Polls GET / until it answers 200 and returns the milliseconds since `startedAt`.
 * Connection refused comes back at once, so a 2 ms poll adds at most ~2 ms.
 */
async function waitForOk (child, baseUrl, startedAt, timeoutMs = 15_000) {
  while (performance.now() - startedAt < timeoutMs) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.label} exited (${child.exitCode ?? child.signalCode}) before answering:\n${child.stderrTail}`)
    }
    try {
      const { status } = await httpGet(`${baseUrl}/`)
      if (status === 200) return performance.now() - startedAt
    } catch {}
    await sleep(2)
  }
  throw new Error(`${child.label} did not answer 200 on GET / within ${timeoutMs} ms:\n${child.stderrTail}`)
}

/** The shape of a JSON body (keys and value types, not values), to compare two servers. */
function shapeOf (value) {
  if (Array.isArray(value)) return value.map(shapeOf)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shapeOf(value[key])]))
  }
  return typeof value
}

/** Fails unless both servers answer 200 with bodies of the same shape on every endpoint. */
async function checkSameAnswers (serviceUrl, minimalUrl) {
  for (const endpoint of settings.endpoints) {
    const [service, minimal] = [await httpGet(serviceUrl + endpoint), await httpGet(minimalUrl + endpoint)]
    if (service.status !== 200 || minimal.status !== 200) {
      throw new Error(`GET ${endpoint}: service ${service.status} ${service.body}, minimal ${minimal.status} ${minimal.body}`)
    }
    const [a, b] = [JSON.stringify(shapeOf(JSON.parse(service.body))), JSON.stringify(shapeOf(JSON.parse(minimal.body)))]
    if (a !== b) throw new Error(`GET ${endpoint}: bodies differ in shape\n service: ${service.body}\n minimal: ${minimal.body}`)
  }
}

// ---------------------------------------------------------------- load

function percentile (sorted, q) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/**
 * `connections` keep-alive connections hammer `url` for `seconds`. Latencies are
 * collected here with sub-millisecond precision (autocannon's own histogram
 * rounds to whole ms, too coarse for a p50 of a few ms); like autocannon, only
 * 2xx answers count towards latency and req/s.
 */
async function load (url, seconds, pid) {
  const latencies = []
  const cpuBefore = cpuMs(pid)
  const result = await new Promise((resolve, reject) => {
    const run = autocannon({ url, connections: settings.connections, duration: seconds }, (err, res) => {
      resources.loadRun = undefined
      if (err) reject(err)
      else resolve(res)
    })
    resources.loadRun = run
    run.on('response', (_client, statusCode, _bytes, ms) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(ms)
    })
  })
  const cpuUsed = cpuMs(pid) - cpuBefore
  const sorted = Float64Array.from(latencies).sort()
  const answered = result['2xx'] + result.non2xx
  return {
    rps: sorted.length / result.duration,
    // CPU the server spent per answer: the cost of its code path, whatever the load generator got.
    cpuPerRequestUs: answered > 0 ? (cpuUsed * 1000) / answered : NaN,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    // non-2xx answers plus socket errors and timeouts (autocannon counts those in `errors`)
    errors: result.non2xx + result.errors
  }
}

/**
 * Other tenants of a shared machine make any single run swing by ±20 %. So each
 * endpoint is measured in several short rounds, alternating which server goes
 * first, and each server is represented by its median round.
 */
async function throughputPhase (service, minimal) {
  const rows = []
  for (const endpoint of settings.endpoints) {
    const servers = [['service', service], ['minimal', minimal]]
    const rounds = { service: [], minimal: [] }
    for (const [name, server] of servers) {
      log(`load ${endpoint}: ${name} warm-up`)
      await load(server.url + endpoint, settings.warmup, server.pid)
    }
    for (let round = 0; round < settings.rounds; round++) {
      for (const [name, server] of round % 2 === 0 ? servers : [...servers].reverse()) {
        log(`load ${endpoint}: ${name}, round ${round + 1} of ${settings.rounds}`)
        rounds[name].push(await load(server.url + endpoint, settings.duration, server.pid))
      }
    }
    const onService = medianRound(rounds.service)
    const onMinimal = medianRound(rounds.minimal)
    rows.push({ endpoint, service: onService, minimal: onMinimal, ratio: onService.rps / onMinimal.rps })
  }
  return rows
}

function medianRound (results) {
  return [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)]
}

/**
 * Leaves `acessos` with exactly `rows` rows, then settles the database (VACUUM
 * sets hint bits and the visibility map, CHECKPOINT flushes the dirty pages) so
 * neither the bulk load's aftermath nor a checkpoint lands in the measurement.
 */
async function prepareAcessos (database, rows) {
  await withPg(database, async (client) => {
    await client.query('TRUNCATE acessos')
    if (rows > 0) {
      await client.query("INSERT INTO acessos (endpoint) SELECT '/seed' FROM generate_series(1, $1::int)", [rows])
    }
    await client.query('VACUUM (ANALYZE) acessos')
    await client.query('CHECKPOINT')
  })
}

/** /db/test p99 on an empty `acessos` and on one with `growthRows` rows. */
async function growthPhase (service, database) {
  // The service is warm from the throughput phase: no warm-up, which would add rows.
  log('growth: /db/test on an empty acessos')
  await prepareAcessos(database, 0)
  const empty = await load(`${service.url}/db/test`, settings.duration, service.pid)
  log(`growth: filling acessos with ${settings.growthRows.toLocaleString('en-US')} rows`)
  const fillStart = performance.now()
  await prepareAcessos(database, settings.growthRows)
  const fillSeconds = (performance.now() - fillStart) / 1000
  log(`growth: /db/test on ${settings.growthRows.toLocaleString('en-US')} rows (filled in ${fillSeconds.toFixed(1)} s)`)
  const full = await load(`${service.url}/db/test`, settings.duration, service.pid)
  const total = await withPg(database, async (client) => {
    const { rows: [row] } = await client.query('SELECT (SELECT count(*) FROM acessos) AS rows, (SELECT sum(total) FROM acessos_contagem) AS counter')
    return row
  })
  return { empty, full, ratio: full.p99 / empty.p99, counterExact: BigInt(total.rows) === BigInt(total.counter) }
}

/** Time from spawning `node dist/server.js` (schema already migrated) to its first 200 on GET /. */
async function startupPhase (database, redisDb) {
  const times = []
  for (let i = 0; i < settings.startupRuns; i++) {
    const { child, startupMs } = await launch((port) => startService(port, database, redisDb))
    await stopProcess(child)
    times.push(startupMs)
  }
  return times
}

// ---------------------------------------------------------------- report

async function machineInfo () {
  const cpus = os.cpus()
  const postgres = await withPg('postgres', async (client) => (await client.query('SHOW server_version')).rows[0].server_version)
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 0 })
  await redis.connect()
  const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))[1]
  redis.disconnect()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    // Anything else running skews every number: say how busy the machine was.
    loadAverage: os.loadavg()[0],
    node: process.version,
    kernel: os.release(),
    postgres,
    redis: redisVersion
  }
}

const ms = (value) => value.toFixed(2)
const int = (value) => Math.round(value).toLocaleString('en-US')
const verdict = (ok) => (ok ? 'ok' : '**over target**')

function table (headers, rows) {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ].join('\n')
}

function report ({ machine, throughput, growth, rss, firstStartMs, startupTimes }) {
  const sortedStartup = [...startupTimes].sort((a, b) => a - b)
  const startupMedian = percentile(sortedStartup, 0.5)
  const lines = [
    '## Machine',
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB RAM, Linux ${machine.kernel}`,
    `- Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}`,
    `- load average (1 min) when the run started: ${machine.loadAverage.toFixed(2)}${machine.loadAverage > 0.5 ? ' — something else was running, numbers are skewed' : ''}`,
    `- autocannon: ${settings.connections} connections, ${settings.warmup} s warm-up then ${settings.rounds} alternating rounds of ${settings.duration} s per endpoint and server, median round shown; ` +
      'load generator, servers, PostgreSQL and Redis all share these cores',
    '',
    `## Throughput (ratio = service req/s / minimal req/s, target ≥ ${TARGETS.throughputRatio})`,
    '',
    table(['endpoint', 'server', 'req/s', 'p50 (ms)', 'p99 (ms)', 'errors', 'ratio', 'server CPU/req (µs)'], throughput.flatMap(({ endpoint, service, minimal, ratio }) => [
      [`GET ${endpoint}`, 'service', int(service.rps), ms(service.p50), ms(service.p99), service.errors, `**${ratio.toFixed(2)}**${ratio < TARGETS.throughputRatio ? ' (low)' : ''}`, int(service.cpuPerRequestUs)],
      [`GET ${endpoint}`, 'minimal', int(minimal.rps), ms(minimal.p50), ms(minimal.p99), minimal.errors, '', int(minimal.cpuPerRequestUs)]
    ]))
  ]
  if (growth !== undefined) {
    lines.push('', `## Growth: GET /db/test p99 on the service (target ratio ≤ ${TARGETS.growthRatio})`, '',
      table(['acessos rows', 'req/s', 'p50 (ms)', 'p99 (ms)', 'errors'], [
        ['0 (empty)', int(growth.empty.rps), ms(growth.empty.p50), ms(growth.empty.p99), growth.empty.errors],
        [int(settings.growthRows), int(growth.full.rps), ms(growth.full.p50), ms(growth.full.p99), growth.full.errors]
      ]), '',
      `p99 ratio ${settings.growthRows.toLocaleString('en-US')} rows / empty: **${growth.ratio.toFixed(2)}** — ${verdict(growth.ratio <= TARGETS.growthRatio)}; ` +
        `counter equals count(*) afterwards: ${growth.counterExact ? 'yes' : '**no**'}`)
  }
  lines.push('', '## Resources', '',
    table(['measure', 'service', 'minimal', 'ratio', 'target', 'result'], [
      ['peak RSS after load (VmHWM, MiB)', rss.service.toFixed(1), rss.minimal.toFixed(1), (rss.service / rss.minimal).toFixed(2), `≤ ${TARGETS.rssRatio}`, verdict(rss.service / rss.minimal <= TARGETS.rssRatio)],
      [`start-up to first 200 on GET / (ms, median of ${startupTimes.length})`, int(startupMedian), '', '', `≤ ${TARGETS.startupMs}`, verdict(startupMedian <= TARGETS.startupMs)]
    ]), '',
    `Start-up runs (ms): ${startupTimes.map(int).join(', ')}; the very first start, which also applied the migrations to an empty database: ${int(firstStartMs)} ms.`)
  return lines.join('\n')
}

// ---------------------------------------------------------------- main

async function main () {
  const machine = await machineInfo()
  const database = await createDatabase()
  const redisDb = await claimRedisDb()
  log(`database ${database}, Redis DB ${redisDb}`)

  // First start: the service creates the schema the minimal server relies on.
  const service = await launch((port) => startService(port, database, redisDb, settings.serviceNodeArgs))
  const minimal = await launch((port) => startMinimal(port, database, redisDb))

  await checkSameAnswers(service.url, minimal.url)
  const throughput = await throughputPhase(service, minimal)
  const rss = { service: peakRssMiB(service.pid), minimal: peakRssMiB(minimal.pid) }
  const growth = settings.endpoints.includes('/db/test') ? await growthPhase(service, database) : undefined

  await stopProcess(minimal.child)
  await stopProcess(service.child)
  const startupTimes = await startupPhase(database, redisDb)

  return report({ machine, throughput, growth, rss, firstStartMs: service.startupMs, startupTimes })
}

let cleaning
/** Stops the load, every child, drops the database and flushes the Redis DB; each step even if another failed. */
function cleanup () {
  cleaning ??= (async () => {
    resources.loadRun?.stop()
    await Promise.allSettled([...resources.children].map((child) => stopProcess(child)))
    for (const step of [dropDatabase, flushRedisDb]) {
      try {
        await step()
      } catch (err) {
        log(`cleanup: ${step.name} failed: ${err.message}`)
      }
    }
  })()
  return cleaning
}

function exitAfterCleanup (code) {
  cleanup().finally(() => process.exit(code))
}

// Set once a signal asked us to stop: the run then fails on its way out (its
// servers are gone), and that failure is not worth reporting.
let interrupted = false

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (!interrupted) log(`${signal}: stopping and cleaning up`)
    interrupted = true
    exitAfterCleanup(130)
  })
}
process.on('uncaughtException', (err) => {
  log(`unexpected error: ${err.stack ?? err}`)
  exitAfterCleanup(1)
})

try {
  const markdown = await main()
  await cleanup()
  process.stdout.write(`\n${markdown}\n`)
} catch (err) {
  if (!interrupted) log(`failed: ${err.stack ?? err}`)
  await cleanup()
  process.exitCode = 1
}
