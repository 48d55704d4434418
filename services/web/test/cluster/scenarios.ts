// The failures a balanced deployment must survive, each under steady load on
// /db/test through haproxy, run by run.sh inside the load balancer's namespace.
// Prints the figures of each scenario and ends with "N passed, N failed"; the
// exit code is non-zero when any scenario failed.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import pg from 'pg'
import { startLoad, type Outcome } from './load.js'
import { SERVICE_ROOT } from '../helpers/server.js'

const run = promisify(execFile)
const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set: run this through run.sh`)
  return value
}
const NS = env('CLUSTER_NS')
const WORK = env('CLUSTER_WORK')
const HAPROXY = env('HAPROXY_URL')
const DB_HOST = env('DB_HOST')
const WEB = env('WEB_ADDRESSES').split(',')
const SHUTDOWN_DELAY_MS = env('SHUTDOWN_DELAY_MS')

// Load: small, so the replicas, PostgreSQL and haproxy share two cores with it.
const CLIENTS = 8
const LOAD_LIMIT_MS = 60_000
const LOAD_MAX_REQUESTS = 200_000
// haproxy checks every 300 ms; what stats show lags by up to one poll more.
const CHECK_INTERVAL_MS = 300
const POLL_MS = 20

const database = new pg.Client({ host: DB_HOST, user: 'postgres', database: 'desafio3', password: (await readFile(join(WORK, 'db_password'), 'utf8')).trim() })
await database.connect()

/** One web replica: `node dist/server.js` in host web<n>'s namespace. */
class Replica {
  child!: ChildProcess
  output = ''
  exited!: Promise<unknown>

  constructor (readonly name: string, readonly address: string) {}

  async start (settings: NodeJS.ProcessEnv = {}): Promise<void> {
    this.output = ''
    this.child = spawn('ip', ['netns', 'exec', `${NS}${this.name}`, process.execPath, 'dist/server.js'], {
      cwd: SERVICE_ROOT,
      env: {
        PATH: process.env.PATH,
        HOST: '0.0.0.0',
        PORT: '5000',
        DB_HOST,
        DB_PASSWORD_FILE: join(WORK, 'db_password'),
        REDIS_HOST: env('REDIS_HOST'),
        REDIS_PASSWORD_FILE: join(WORK, 'redis_password'),
        SHUTDOWN_DELAY_MS,
        SHUTDOWN_TIMEOUT_MS: '10000',
        ...settings
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    this.child.stdout?.on('data', (chunk: Buffer) => { this.output += chunk.toString() })
    this.child.stderr?.on('data', (chunk: Buffer) => { this.output += chunk.toString() })
    this.exited = once(this.child, 'exit')
    await until(() => this.output.includes('Server listening'), 15_000, `${this.name} to listen:\n${this.output}`)
  }

  async stop (signal: NodeJS.Signals): Promise<void> {
    this.child.kill(signal)
    await Promise.race([this.exited, sleep(20_000).then(() => { throw new Error(`${this.name} did not exit on ${signal}`) })])
  }
}

async function until (done: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs
  while (!await done()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${limitMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}

/** Each server's status and 2xx count, from haproxy's stats socket. */
async function haproxyStats (): Promise<Map<string, { status: string, ok: number }>> {
  const socket = connect(join(WORK, 'haproxy.sock'))
  socket.end('show stat\n')
  let csv = ''
  for await (const chunk of socket) csv += chunk
  const [header = '', ...rows] = csv.replace(/^# /, '').trim().split('\n')
  const columns = header.split(',')
  const stats = new Map<string, { status: string, ok: number }>()
  for (const row of rows) {
    const cells = row.split(',')
    const cell = (name: string) => cells[columns.indexOf(name)] ?? ''
    if (cell('pxname') === 'web' && cell('svname').startsWith('web')) stats.set(cell('svname'), { status: cell('status'), ok: Number(cell('hrsp_2xx')) })
  }
  return stats
}
const inPool = async (name: string) => (await haproxyStats()).get(name)?.status === 'UP'

/** How long until `name` is in (or out of) haproxy's pool, polled. */
async function timeUntil (name: string, wanted: boolean, limitMs: number): Promise<number> {
  const began = performance.now()
  await until(async () => await inPool(name) === wanted, limitMs, `${name} to ${wanted ? 'join' : 'leave'} the pool`)
  return Math.round(performance.now() - began)
}

/**
 * Sets off `event` (a signal, a firewall rule) and times `name` out of the pool
 * from just before it: requests start failing while the event is under way, not
 * once the command that makes it has returned.
 */
async function timeOutOfPool (name: string, event: () => Promise<unknown>, limitMs: number): Promise<number> {
  const [left] = await Promise.all([timeUntil(name, false, limitMs), event()])
  return left
}

/** Connections PostgreSQL's listening socket has not accepted yet (its Recv-Q). */
async function waitingForPostgres (): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', `${NS}db`, 'ss', '-Hltn', 'sport = :5432'])
  return Number(stdout.trim().split(/\s+/)[1] ?? 0)
}

async function rows (): Promise<number[]> {
  const result = await database.query<{ id: number }>("SELECT id FROM acessos WHERE endpoint = '/db/test' ORDER BY id")
  return result.rows.map((row) => row.id)
}

interface Report {
  scenario: string
  passed: boolean
  figures: Record<string, number | string>
  problems: string[]
}
const reports: Report[] = []

/**
 * Runs `action` under load and checks what every scenario must keep: each row
 * written during the load got its 200 answer unless the request failed, no two
 * answers share an id, and the next total equals the rows in the table.
 */
async function underLoad (scenario: string, action: (now: () => number) => Promise<{ figures: Record<string, number | string>, problems: string[], failuresAllowedBefore?: number }>): Promise<void> {
  const before = new Set(await rows())
  const load = startLoad(HAPROXY, '/db/test', CLIENTS, LOAD_LIMIT_MS, LOAD_MAX_REQUESTS)
  let result
  try {
    await sleep(1000)
    result = await action(load.now)
    await sleep(1000)
  } catch (error) {
    await load.stop()
    throw error
  }
  const outcomes = await load.stop()
  const { figures, problems, failuresAllowedBefore } = result
  const failed = outcomes.filter((request) => request.status !== 200)
  const answered = new Set(outcomes.flatMap((request) => request.id ?? []))
  const written = (await rows()).filter((id) => !before.has(id))
  const unanswered = written.filter((id) => !answered.has(id))
  figures.requests = outcomes.length
  figures['req/s through haproxy'] = Math.round(outcomes.length / (outcomes.reduce((last, request) => Math.max(last, request.end), 0) / 1000))
  figures.failed = failed.length
  figures['failed by kind'] = describeFailures(failed)
  figures['rows written without a 200 answer'] = unanswered.length
  if (answered.size !== outcomes.length - failed.length) problems.push('two answers carry the same acesso_id')
  if (written.length < answered.size) problems.push(`${answered.size - written.length} answered ids are not in the table`)
  if (failuresAllowedBefore === undefined) {
    if (failed.length > 0) problems.push(`${failed.length} requests failed`)
    if (unanswered.length > 0) problems.push(`${unanswered.length} rows were written whose request got no 200`)
  } else {
    const late = failed.filter((request) => request.start > failuresAllowedBefore)
    if (late.length > 0) {
      const sentAfter = late.slice(0, 10).map((request) => Math.round(request.start - failuresAllowedBefore))
      problems.push(`${late.length} requests failed after the replica had left the pool (sent ${sentAfter.join(', ')}${late.length > 10 ? ', …' : ''} ms after it had)`)
    }
    if (unanswered.length > failed.length) problems.push(`${unanswered.length} rows without an answer, more than the ${failed.length} failed requests`)
  }
  const next = await fetch(new URL('/db/test', HAPROXY)).then(async (response) => await response.json() as { total_acessos: number })
  const count = Number((await database.query('SELECT count(*) FROM acessos')).rows[0].count)
  figures['next total / rows'] = `${next.total_acessos} / ${count}`
  if (next.total_acessos !== count) problems.push(`the next total is ${next.total_acessos}, the table has ${count} rows`)
  reports.push({ scenario, passed: problems.length === 0, figures, problems })
  print(reports.at(-1) as Report)
}

function describeFailures (failed: Outcome[]): string {
  const kinds = new Map<string, number>()
  for (const request of failed) {
    // haproxy's own answers are HTML; the service's carry its `erro`.
    const from = request.error?.startsWith('{') === true ? (JSON.parse(request.error) as { erro?: string }).erro : 'haproxy'
    const kind = request.status === 0 ? String(request.error) : `${request.status} (${from})`
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  }
  return [...kinds].map(([kind, count]) => `${kind}: ${count}`).join(', ') || 'none'
}

function print (report: Report): void {
  console.log(`\n${report.passed ? 'PASS' : 'FAIL'} ${report.scenario}`)
  for (const [name, value] of Object.entries(report.figures)) console.log(`  ${name}: ${value}`)
  for (const problem of report.problems) console.log(`  problem: ${problem}`)
}

const replicas = WEB.map((address, index) => new Replica(`web${index + 1}`, address))

async function migrationsOnce (): Promise<void> {
  const files = (await readdir(join(SERVICE_ROOT, 'migrations'))).filter((file) => file.endsWith('.sql'))
  const began = performance.now()
  // PostgreSQL's postmaster is held (SIGSTOP) while the replicas start, so their
  // migration connections wait in its listen queue, and it resumes once all three
  // are there: they then migrate at the same moment, and would race without the
  // lock. Their connect timeout is raised to outlast the hold.
  const postmaster = Number((await readFile(join(WORK, 'pg/data/postmaster.pid'), 'utf8')).split('\n')[0])
  process.kill(postmaster, 'SIGSTOP')
  let starting
  try {
    starting = replicas.map(async (replica) => await replica.start({ DEPENDENCY_TIMEOUT_MS: '15000' }))
    await until(async () => await waitingForPostgres() >= replicas.length, 15_000, 'three connections in PostgreSQL\'s listen queue')
  } finally {
    process.kill(postmaster, 'SIGCONT')
  }
  await Promise.all(starting)
  await until(async () => [...(await haproxyStats()).values()].every(({ status }) => status === 'UP'), 30_000, 'all three replicas in the pool')
  const versions = await database.query<{ version: string, times: string }>('SELECT version, count(*) AS times FROM schemaversion WHERE version > 0 GROUP BY version ORDER BY version')
  const lines = replicas.map((replica) => replica.output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { level: number, msg: string }))
  const applied = lines.map((log) => log.filter((line) => line.msg === 'migration applied').length)
  // Replicas racing on the schema fail their own attempt (CREATE TABLE of a table
  // the other just created) and log it, even when the retry then succeeds.
  const warnings = lines.flat().filter((line) => line.level >= 40)
  const problems = warnings.map((line) => `a replica logged at level ${line.level}: ${line.msg}`)
  if (versions.rows.length !== files.length || versions.rows.some(({ times }) => Number(times) !== 1)) {
    problems.push(`schemaversion holds ${JSON.stringify(versions.rows)} for ${files.length} files`)
  }
  if (applied.reduce((sum, count) => sum + count, 0) !== files.length) problems.push(`"migration applied" logged ${applied.join(' + ')} times for ${files.length} files`)
  const report = {
    scenario: 'three replicas start at once on an empty database',
    passed: problems.length === 0,
    figures: { 'migrations applied by each replica': applied.join(', '), 'all three in the pool after (ms)': Math.round(performance.now() - began) },
    problems
  }
  reports.push(report)
  print(report)
}

async function rollingRestart (): Promise<void> {
  await underLoad(`rolling restart, SIGTERM to each replica in turn (SHUTDOWN_DELAY_MS=${SHUTDOWN_DELAY_MS})`, async () => {
    const left: number[] = []
    const back: number[] = []
    for (const replica of replicas) {
      left.push(await timeOutOfPool(replica.name, async () => await replica.stop('SIGTERM'), 15_000))
      const joining = replica.start().then(async () => await timeUntil(replica.name, true, 15_000))
      back.push(await joining)
    }
    return { figures: { 'left the pool after SIGTERM (ms)': left.join(', '), 'back in the pool after restart (ms)': back.join(', ') }, problems: [] }
  })
}

async function killOne (): Promise<void> {
  const replica = replicas[1] as Replica
  await underLoad(`kill -9 of ${replica.name}`, async (now) => {
    const killed = now()
    const left = await timeOutOfPool(replica.name, async () => await replica.stop('SIGKILL'), 5000)
    const problems = left > 2 * CHECK_INTERVAL_MS ? [`it left the pool after ${left} ms, more than one check interval (${CHECK_INTERVAL_MS} ms) plus polling`] : []
    const failuresAllowedBefore = killed + left + POLL_MS
    await replica.start()
    const back = await timeUntil(replica.name, true, 15_000)
    return { figures: { 'left the pool after kill (ms)': left, 'back in the pool after restart (ms)': back }, problems, failuresAllowedBefore }
  })
}

async function cutOffDatabase (): Promise<void> {
  const replica = replicas[2] as Replica
  const rule = ['OUTPUT', '-d', DB_HOST, '-p', 'tcp', '--dport', '5432', '-j', 'REJECT', '--reject-with', 'tcp-reset']
  const iptables = async (action: string) => await run('ip', ['netns', 'exec', `${NS}${replica.name}`, 'iptables', action, ...rule])
  await underLoad(`${replica.name} cut off from PostgreSQL (iptables in its namespace), then restored`, async (now) => {
    const pid = replica.child.pid
    const problems: string[] = []
    const cut = now()
    let left, servedBefore
    try {
      left = await timeOutOfPool(replica.name, async () => await iptables('-I'), 5000)
      const ready = await fetch(`http://${replica.address}:5000/health/ready`)
      const body = await ready.json() as { falhas?: string[] }
      if (ready.status !== 503 || !body.falhas?.includes('database')) problems.push(`/health/ready answered ${ready.status} ${JSON.stringify(body)} while cut off`)
      servedBefore = (await haproxyStats()).get(replica.name)?.ok ?? 0
      await sleep(1000)
      const servedWhileOut = ((await haproxyStats()).get(replica.name)?.ok ?? 0) - servedBefore
      if (servedWhileOut > 0) problems.push(`it answered ${servedWhileOut} requests with 2xx while out of the pool`)
    } finally {
      await iptables('-D')
    }
    const back = await timeUntil(replica.name, true, 15_000)
    await sleep(500)
    const servedAfter = ((await haproxyStats()).get(replica.name)?.ok ?? 0) - servedBefore
    if (replica.child.pid !== pid || replica.child.exitCode !== null) problems.push('the replica restarted')
    if (servedAfter === 0) problems.push('it served nothing after rejoining')
    return {
      figures: {
        'left the pool after the cut (ms)': left,
        'back in the pool after the restore (ms)': back,
        'requests it answered in the 500 ms after rejoining': servedAfter
      },
      problems,
      failuresAllowedBefore: cut + left + POLL_MS
    }
  })
}

// In order: each starts from where the one before left the replicas. A scenario
// that cannot finish (a replica never leaves the pool, say) fails, and ends the run.
const scenarios = [migrationsOnce, rollingRestart, killOne, cutOffDatabase]
try {
  await until(async () => (await haproxyStats()).size === replicas.length, 10_000, 'haproxy to answer on its stats socket')
  for (const scenario of scenarios) {
    const count = reports.length
    try {
      await scenario()
    } catch (error) {
      if (reports.length === count) reports.push({ scenario: scenario.name, passed: false, figures: {}, problems: [] })
      const report = reports.at(-1) as Report
      report.passed = false
      report.problems.push(`stopped: ${(error as Error).message}`)
      print(report)
      break
    }
  }
} finally {
  await Promise.all(replicas.map(async (replica) => {
    if (replica.child?.exitCode === null) await replica.stop('SIGKILL')
  }))
  await database.end()
}
const passed = reports.filter((report) => report.passed).length
// A scenario that never ran counts as failed.
const failed = scenarios.length - passed
console.log(`\n${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
