// Starting, probing and stopping the servers under test.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import http from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { PG, REDIS, settings } from './settings.mjs'
import { log, resources, run } from './state.mjs'

const BENCH_DIR = new URL('..', import.meta.url).pathname

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
  const env = {
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
    LOG_LEVEL: 'info' // as in production
  }
  if (PG.password !== undefined) env.DB_PASSWORD = PG.password
  if (REDIS.password !== undefined) env.REDIS_PASSWORD = REDIS.password
  return env
}

/**
 * Starts a child process registered for cleanup. Its stdout goes to `logFile`
 * (/dev/null by default, so logging costs what it costs in production minus
 * the disk); the tail of stderr is kept to explain an early exit.
 */
export function startChild ({ name, command = process.execPath, args, cwd, env, ipc = false, logFile = '/dev/null' }) {
  const stdout = logFile === 'pipe' ? 'pipe' : openSync(logFile, 'a')
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', stdout, 'pipe', ...(ipc ? ['ipc'] : [])] })
  if (stdout !== 'pipe') closeSync(stdout) // the child has its own copy
  child.label = name
  child.stderrTail = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk) => { child.stderrTail = (child.stderrTail + chunk).slice(-4000) })
  resources.children.add(child)
  child.once('exit', (code, signal) => {
    resources.children.delete(child)
    // A server that was up and dies explains the failure that follows (refused
    // connections, a missing /proc entry); one that never came up is reported by launch().
    if (child.up && !child.stopping && !run.interrupted) log(`${name} exited unexpectedly (${code ?? signal}); its stderr:\n${child.stderrTail}`)
  })
  return child
}

/** What a build's `npm start` runs after `node`: the command its image runs too. */
function serviceArgs (dir) {
  const start = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts?.start
  const [command, ...args] = String(start).split(' ')
  if (command !== 'node') throw new Error(`${dir}/package.json: the start script is not a node command: ${start}`)
  return args
}

/**
 * The service (or the build in `dir`) as the image runs it, by its start
 * script, with `nodeArgs` before it. `tracing`, when given, is where it sends its traces
 * (`tracing.collector`) and the ratio of requests it samples (`tracing.ratio`).
 */
export function startService (port, database, redisDb, { name = 'service', dir = settings.serviceDir, nodeArgs = [], tracing } = {}) {
  const env = serverEnv(port, database, redisDb)
  if (tracing !== undefined) {
    Object.assign(env, { OTEL_EXPORTER_OTLP_ENDPOINT: tracing.collector, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(tracing.ratio) })
  }
  return startChild({ name, args: [...nodeArgs, ...serviceArgs(dir)], cwd: dir, env, logFile: settings.serviceLog })
}

export function startMinimal (port, database, redisDb) {
  // The IPC channel lets the minimal server exit by itself if this process dies.
  return startChild({ name: 'minimal', args: ['minimal-server.mjs'], cwd: BENCH_DIR, env: serverEnv(port, database, redisDb), ipc: true })
}

/**
 * Starts a server on a free port (`start(port)` spawns it) and waits for its
 * first 200 on GET /; `startupMs` is the time from the spawn to that answer.
 */
export async function launch (start, attempts = 3) {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const startedAt = performance.now()
  const child = start(port)
  try {
    const startupMs = await waitForOk(child, url, startedAt)
    child.up = true
    return { name: child.label, child, pid: child.pid, url, startupMs }
  } catch (err) {
    const exitedByItself = child.exitCode !== null || child.signalCode !== null
    await stopProcess(child)
    // Someone else may have taken the port between freePort() and the listen
    // (the service logs that to its stdout, so the cause cannot be read here).
    if (exitedByItself && attempts > 1 && !run.interrupted) {
      log(`${child.label} exited before answering; retrying on another port`)
      return launch(start, attempts - 1)
    }
    throw err
  }
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
export async function stopProcess (child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.stopping = true
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

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

/** Fails unless every server answers 200 with a body of the minimal server's shape on every endpoint. */
export async function checkSameAnswers (servers, minimal) {
  for (const endpoint of settings.endpoints) {
    const expected = await httpGet(minimal.url + endpoint)
    if (expected.status !== 200) throw new Error(`GET ${endpoint}: minimal ${expected.status} ${expected.body}`)
    for (const server of servers) {
      const answer = await httpGet(server.url + endpoint)
      if (answer.status !== 200) throw new Error(`GET ${endpoint}: ${server.name} ${answer.status} ${answer.body}`)
      if (JSON.stringify(shapeOf(JSON.parse(answer.body))) !== JSON.stringify(shapeOf(JSON.parse(expected.body)))) {
        throw new Error(`GET ${endpoint}: bodies differ in shape\n ${server.name}: ${answer.body}\n minimal: ${expected.body}`)
      }
    }
  }
}
