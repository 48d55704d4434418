import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { removeOrphanTempDirs } from '../helpers/owner.js'
import { removeOrphanStacks } from './stack.js'

const run = promisify(execFile)
const INTERRUPTED = fileURLToPath(new URL('../fixtures/interrupted-e2e-file.ts', import.meta.url))

interface Held { pid: number, project: string, secretsDir: string, cacheImage: string }
// How the line starts on which the interrupted file says what it holds.
const HOLDS = '{"pid"'

/** Starts the interrupted e2e file with this process's own loaders; resolves with what it holds once its cache runs. */
async function startInterrupted () {
  const child = spawn(process.execPath, [...process.execArgv, INTERRUPTED], { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] })
  let errors = ''
  const held = await new Promise<Held>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString()
      const line = errors.split('\n').find((candidate) => candidate.startsWith(HOLDS))
      if (line !== undefined) resolve(JSON.parse(line))
    })
    child.once('exit', (code) => reject(new Error(`the interrupted e2e file exited with ${code} before holding anything:\n${errors}`)))
  })
  return { child, held }
}

/** How many of each thing labelled with `project` docker still has, and whether its secrets folder is there. */
async function whatRemains ({ project, secretsDir }: Held) {
  const count = async (...args: string[]) => (await run('docker', [...args, '--quiet'])).stdout.split('\n').filter(Boolean).length
  const labelled = ['--filter', `label=com.docker.compose.project=${project}`]
  return {
    containers: await count('ps', '--all', ...labelled),
    networks: await count('network', 'ls', ...labelled),
    volumes: await count('volume', 'ls', ...labelled),
    images: await count('image', 'ls', '--filter', `reference=${project}*`),
    secretsDir: await access(secretsDir).then(() => true, () => false)
  }
}

async function sweep () {
  await Promise.all([removeOrphanStacks(), removeOrphanTempDirs()])
}

t.test('the compose project of a killed e2e file is removed by the next run\'s preflight, and only then', async (t) => {
  const { child, held } = await startInterrupted()
  t.teardown(() => { child.kill('SIGKILL') })

  await sweep()
  t.equal(child.exitCode, null, 'the interrupted file still runs')
  const kept = await whatRemains(held)
  t.ok(kept.containers > 0 && kept.networks > 0 && kept.volumes > 0 && kept.images > 0 && kept.secretsDir, `kept while its file runs: ${JSON.stringify(kept)}`)

  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited

  await sweep()
  t.same(await whatRemains(held), { containers: 0, networks: 0, volumes: 0, images: 0, secretsDir: false }, 'gone after the sweep')
  t.not((await run('docker', ['image', 'ls', '--quiet', held.cacheImage])).stdout.trim(), '', 'the image it shared an id with stays')
})
