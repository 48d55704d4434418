import { execFile } from 'node:child_process'
import { chmod, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'

const run = promisify(execFile)
const TOP = fileURLToPath(new URL('../../../..', import.meta.url))

// `make up` on a machine whose Docker cannot run compose.yaml: one line saying
// what is missing and what to do, never Docker's usage text. A stand-in
// `docker` first on PATH plays each such machine; any call beyond the checks
// would mean make went on, so it fails loudly.
const FAKE_DOCKER = `#!/bin/sh
case "$FAKE_DOCKER:$1 $2" in
  no-plugin:"compose version") echo "docker: 'compose' is not a docker command." >&2; exit 1 ;;
  old-plugin:"compose version") echo "2.0.1"; exit 0 ;;
  no-engine:"compose version"|works:"compose version") echo "2.29.7"; exit 0 ;;
  no-engine:"info "*) echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1 ;;
esac
echo "unexpected: docker $*" >&2
exit 3
`

const TOOLS = ['make', 'sh', 'bash', 'env', 'sed', 'sort', 'head', 'dirname', 'cat']

async function which (tool: string): Promise<string> {
  return (await run('sh', ['-c', `command -v ${tool}`])).stdout.trim()
}

const machines = [
  { name: 'no docker command at all', fake: undefined, says: /the docker command is not installed/ },
  { name: 'the docker CLI without the Compose v2 plugin', fake: 'no-plugin', says: /Compose v2 plugin is not installed/ },
  { name: 'a Compose plugin older than 2.1.1', fake: 'old-plugin', says: /Compose 2\.0\.1 is older than 2\.1\.1/ },
  { name: 'Compose v2 but no engine answering', fake: 'no-engine', says: /no Docker engine answers/ }
] as const

for (const target of ['up', 'e2e', 'down']) {
  for (const machine of machines) {
    t.test(`make ${target} with ${machine.name}: one line saying what is missing`, async (t) => {
      const bin = t.testdir()
      if (machine.fake !== undefined) {
        await writeFile(join(bin, 'docker'), FAKE_DOCKER)
        await chmod(join(bin, 'docker'), 0o755)
      }
      // Only the tools make and the scripts use: no real docker can be found.
      for (const tool of TOOLS) await symlink(await which(tool), join(bin, tool))
      const env = { PATH: bin, FAKE_DOCKER: machine.fake ?? '' }
      const failure = await run('make', ['-s', '-C', TOP, target], { env }).then(() => undefined, (error) => error)
      t.ok(failure, 'make fails')
      const lines = String(failure?.stderr ?? '').trim().split('\n').filter((line) => !/^make(\[\d+\])?: /.test(line))
      t.equal(lines.length, 1, `one line: ${lines.join(' | ')}`)
      t.match(lines[0], new RegExp(`^make ${target} needs Docker Engine with Compose v2 >= 2\\.1\\.1: `))
      t.match(lines[0], machine.says)
      t.match(lines[0], /Without Docker, see "Running without Docker" in README\.md/)
    })
  }
}
