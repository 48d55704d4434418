import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { isRunning, killOrphanProcesses, removeOrphanTempDirs } from '../helpers/owner.js'
import { claimant, dropOrphanDatabases, releaseOrphanRedisDatabases, withMaintenanceClient } from '../helpers/services.js'

const INTERRUPTED = fileURLToPath(new URL('../fixtures/interrupted-test-file.ts', import.meta.url))

interface Held { database: string, redisDb: number, serverPid: number, dir: string }

/** Starts the interrupted test file with this process's own loaders and resolves with what it holds. */
async function startInterrupted () {
  const child = spawn(process.execPath, [...process.execArgv, INTERRUPTED], { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  const held = await new Promise<Held>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString()
      const line = errors.split('\n').find((candidate) => candidate.startsWith('{"database"'))
      if (line !== undefined) resolve(JSON.parse(line))
    })
    child.once('exit', (code) => reject(new Error(`the interrupted test file exited with ${code} before holding anything:\n${errors}`)))
  })
  return { child, held }
}

/** What of `held` is still there; the Redis database counts while `owner` still claims it (another test may take it once freed). */
async function whatRemains ({ database, redisDb, serverPid, dir }: Held, owner: number) {
  return {
    database: await withMaintenanceClient(async (client) =>
      (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1),
    redisDb: (await claimant(redisDb))?.pid === owner,
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
  t.same(await whatRemains(held, child.pid!), { database: true, redisDb: true, server: true, dir: true }, 'kept while its test file runs')

  child.kill('SIGKILL')
  await once(child, 'exit')

  await sweep()
  t.same(await whatRemains(held, child.pid!), { database: false, redisDb: false, server: false, dir: false }, 'gone after the sweep')
})
