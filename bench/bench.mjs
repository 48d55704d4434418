// Benchmark of the web service (services/web/dist/server.js) against a bare
// node:http server doing the same database and cache work (minimal-server.mjs),
// loaded with wrk.
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

/** Time from spawning `node dist/server.js` (schema already migrated) to its first 200 on GET /. */
async function startupPhase (database, redisDb) {
  const times = []
  for (let i = 0; i < settings.startupRuns; i++) {
    const { child, startupMs } = await launch((port) => startService(port, database, redisDb, { collector: resources.sink?.url }))
    await stopProcess(child)
    times.push(startupMs)
  }
  return times
}

async function main () {
  const machine = await machineInfo()
  const database = await createDatabase()
  const redisDb = await claimRedisDb()
  log(`database ${database}, Redis DB ${redisDb}, Node ${process.version}`)

  // With TRACING_RATIO the service traces into a sink that accepts every export.
  const sink = settings.tracingRatio === undefined ? undefined : await startSink()
  resources.sink = sink

  // First start: the service creates the schema the minimal server relies on.
  const service = await launch((port) => startService(port, database, redisDb, { nodeArgs: settings.serviceNodeArgs, collector: sink?.url }))
  const minimal = await launch((port) => startMinimal(port, database, redisDb))

  await checkSameAnswers(service.url, minimal.url)
  const throughput = await throughputPhase(service, minimal)
  const rss = { service: peakRssMiB(service.pid), minimal: peakRssMiB(minimal.pid) }
  const growth = settings.endpoints.includes('/db/test') ? await growthPhase(service, database) : undefined

  await stopProcess(minimal.child)
  await stopProcess(service.child)
  const startupTimes = await startupPhase(database, redisDb)

  const tracing = sink === undefined ? undefined : { ratio: settings.tracingRatio, exports: sink.exports, bytes: sink.bytes }
  return report({ machine, throughput, growth, rss, firstStartMs: service.startupMs, startupTimes, tracing })
}

let cleaning
/** Stops every child (wrk included), drops the database and flushes the Redis DB; each step even if another failed. */
function cleanup () {
  cleaning ??= (async () => {
    await Promise.allSettled([...resources.children].map((child) => stopProcess(child)))
    await resources.sink?.close()
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
