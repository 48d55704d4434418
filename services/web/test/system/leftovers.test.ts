import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { HOLDING, startHolding } from '../helpers/interrupted.js'
import { isRunning, killOrphanProcesses, removeOrphanTempDirs } from '../helpers/owner.js'
import { claimant, dropOrphanDatabases, releaseOrphanRedisDatabases, withMaintenanceClient } from '../helpers/services.js'
import { waitUntil } from '../helpers/timing.js'

const INTERRUPTED = fileURLToPath(new URL('../fixtures/interrupted-test-file.ts', import.meta.url))

// Spawns its arguments as tap spawns a test file: with an IPC channel to it.
const RUNNER = "require('node:child_process').spawn(process.execPath, process.argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })"
// The same runner, gone while its test file still loads: it prints the file's pid and exits.
const RUNNER_GONE_AT_ONCE = `console.log(${RUNNER}.pid); process.exit()`

interface Held { pid: number, database: string, redisDb: number, serverPid: number, dir: string }

/**
 * Starts the interrupted test file with this process's own loaders, either as
 * this process's child or as the child of a stand-in for tap's runner.
 */
async function startInterrupted (underRunner = false) {
  const testFile = [...process.execArgv, INTERRUPTED]
  return await startHolding<Held>(underRunner ? ['--eval', RUNNER, '--', ...testFile] : testFile)
}

/** What of `held` is still there; the Redis database counts while its test file still claims it (another test may take it once freed). */
async function whatRemains ({ pid, database, redisDb, serverPid, dir }: Held) {
  return {
    database: await withMaintenanceClient(async (client) =>
      (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1),
    redisDb: (await claimant(redisDb))?.pid === pid,
    server: isRunning(serverPid),
    dir: await access(dir).then(() => true, () => false)
  }
}

async function sweep () {
  await killOrphanProcesses()
  await Promise.all([dropOrphanDatabases(), releaseOrphanRedisDatabases(), removeOrphanTempDirs()])
}

t.test('what a killed test file held is dropped by the next run\'s preflight, and only then', async (t) => {
  const { child, held } = await startInterrupted()
  t.teardown(() => { child.kill('SIGKILL') })

  await sweep()
  t.same(await whatRemains(held), { database: true, redisDb: true, server: true, dir: true }, 'kept while its test file runs')

  child.kill('SIGKILL')
  await once(child, 'exit')

  await sweep()
  t.same(await whatRemains(held), { database: false, redisDb: false, server: false, dir: false }, 'gone after the sweep')
})

t.test('a test file whose runner is killed ends at once with the processes it started, and the next run\'s preflight drops the rest', async (t) => {
  const { child: runner, held } = await startInterrupted(true)
  t.teardown(() => {
    for (const pid of [held.pid, held.serverPid]) if (isRunning(pid)) process.kill(pid, 'SIGKILL')
  })

  runner.kill('SIGKILL')
  await waitUntil(() => !isRunning(held.pid), 'the test file ends once its runner is gone')
  await waitUntil(() => !isRunning(held.serverPid), 'its server ends with it')

  await sweep()
  t.same(await whatRemains(held), { database: false, redisDb: false, server: false, dir: false }, 'gone after the sweep')
})

t.test('a test file whose runner is gone before it has loaded ends as it loads, having taken nothing', async (t) => {
  const runner = spawn(process.execPath, ['--eval', RUNNER_GONE_AT_ONCE, '--', ...process.execArgv, INTERRUPTED], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = Number(String((await once(runner.stdout, 'data'))[0]))
  t.teardown(() => { if (isRunning(pid)) process.kill(pid, 'SIGKILL') })
  let errors = ''
  runner.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString() })

  await waitUntil(() => !isRunning(pid) || errors.includes(HOLDING), 'the test file ends, or holds what it took')
  t.notOk(isRunning(pid), 'it has ended')
  t.notMatch(errors, HOLDING, 'having taken nothing')
})
