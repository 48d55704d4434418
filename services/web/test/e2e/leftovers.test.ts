import { once } from 'node:events'
import { access } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startHolding } from '../helpers/interrupted.js'
import { removeOrphanTempDirs } from '../helpers/owner.js'
import { dockerLines, PROJECT_LABEL, removeOrphanStacks } from './stack.js'

const INTERRUPTED = fileURLToPath(new URL('../fixtures/interrupted-e2e-file.ts', import.meta.url))

interface Held { pid: number, project: string, secretsDir: string, cacheImage: string }

/** How many of each thing labelled with `project` docker still has, and whether its secrets folder is there. */
async function whatRemains ({ project, secretsDir }: Held) {
  const count = async (...args: string[]) => (await dockerLines(...args, '--quiet')).length
  const labelled = ['--filter', `label=${PROJECT_LABEL}=${project}`]
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
  // Resolves once its cache runs.
  const { child, held } = await startHolding<Held>([...process.execArgv, INTERRUPTED])
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
  t.not((await dockerLines('image', 'ls', '--quiet', held.cacheImage)).length, 0, 'the image it shared an id with stays')
})
