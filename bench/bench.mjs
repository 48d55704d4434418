// Benchmark of the web service (services/web/dist/server.js) against a bare
// node:http server doing the same database and cache work (minimal-server.mjs),
// loaded with wrk; optionally beside the service traced and another build.
//
// It runs on a database and a Redis logical DB of its own that it removes at the
// end (also on error or Ctrl-C), and stops every process it started. See
// README.md for what each number means; lib/ holds one module per job.
import { claimRedisDb, createDatabase, dropDatabase, flushRedisDb } from './lib/databases.mjs'
import { growthPhase } from './lib/growth.mjs'
import { peakRssMiB } from './lib/proc.mjs'
import { startSink } from './lib/otlp-sink.mjs'
import { machineInfo, report } from './lib/report.mjs'
import { throughputPhase } from './lib/rounds.mjs'
import { checkSameAnswers, launch, startMinimal, startService, stopProcess } from './lib/servers.mjs'
import { settings } from './lib/settings.mjs'
import { log, resources, run } from './lib/state.mjs'

/** Time from spawning the service (schema already migrated) to its first 200 on GET /. */
async function startupPhase (database, redisDb) {
  const times = []
  for (let i = 0; i < settings.startupRuns; i++) {
    const { child, startupMs } = await launch((port) => startService(port, database, redisDb))
    await stopProcess(child)
    times.push(startupMs)
  }
  return times
}

/** `0.01` as `1 %`. */
const percent = (ratio) => `${+(ratio * 100).toPrecision(3)} %`

/**
 * The servers loaded beside the service (tracing off) and the minimal server:
 * the service traced at each of TRACING_RATIOS, each into a sink of its own
 * that accepts every export, and the BASELINE_DIR build.
 */
async function startVariants (database, redisDb) {
  const variants = []
  for (const ratio of settings.tracingRatios) {
    const sink = await startSink()
    resources.sinks.add(sink)
    const name = `traced ${percent(ratio)}`
    variants.push({ ...await launch((port) => startService(port, database, redisDb, { name, nodeArgs: settings.serviceNodeArgs, tracing: { collector: sink.url, ratio } })), sink })
  }
  if (settings.baselineDir !== undefined) {
    variants.push(await launch((port) => startService(port, database, redisDb, { name: 'baseline', dir: settings.baselineDir, nodeArgs: settings.serviceNodeArgs })))
  }
  return variants
}

async function main () {
  const machine = await machineInfo()
  const database = await createDatabase()
  const redisDb = await claimRedisDb()
  log(`database ${database}, Redis DB ${redisDb}, Node ${process.version}`)

  // First start: the service creates the schema the other servers rely on.
  const service = await launch((port) => startService(port, database, redisDb, { nodeArgs: settings.serviceNodeArgs }))
  const variants = await startVariants(database, redisDb)
  const minimal = await launch((port) => startMinimal(port, database, redisDb))
  const servers = [service, ...variants, minimal]
  log(`servers: ${servers.map(({ name, pid }) => `${name} (pid ${pid})`).join(', ')}`)

  await checkSameAnswers([service, ...variants], minimal)
  const throughput = await throughputPhase(servers)
  const rss = Object.fromEntries(servers.map(({ name, pid }) => [name, peakRssMiB(pid)]))
  const growth = settings.endpoints.includes('/db/test') ? await growthPhase(service, database) : undefined

  for (const server of servers) await stopProcess(server.child)
  const startupTimes = await startupPhase(database, redisDb)

  const traced = variants.filter(({ sink }) => sink !== undefined).map(({ name, sink }) => ({ name, exports: sink.exports, bytes: sink.bytes }))
  return report({ machine, servers: servers.map(({ name }) => name), throughput, growth, rss, firstStartMs: service.startupMs, startupTimes, traced })
}

let cleaning
/** Stops every child (wrk included), drops the database and flushes the Redis DB; each step even if another failed. */
function cleanup () {
  cleaning ??= (async () => {
    await Promise.allSettled([...resources.children].map((child) => stopProcess(child)))
    await Promise.allSettled([...resources.sinks].map((sink) => sink.close()))
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

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (!run.interrupted) log(`${signal}: stopping and cleaning up`)
    run.interrupted = true
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
  if (!run.interrupted) log(`failed: ${err.stack ?? err}`)
  await cleanup()
  process.exitCode = 1
}
