import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { isGone, ownedTempPrefix, ownerIn, ownerTag } from '../helpers/owner.js'
import { freePort } from '../helpers/server.js'

const run = promisify(execFile)

/** The repository's top: compose.yaml, the Makefile and scripts/. */
export const TOP = fileURLToPath(new URL('../../../..', import.meta.url))

export interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

export interface Stack {
  /** The throwaway compose project: never the user's desafio3. */
  project: string
  /** Where web is published on the host loopback. */
  url: string
  /** Where this stack's secret files are (SECRETS_DIR). */
  secretsDir: string
  /** The environment `make` and `docker` run in, for a command the test spawns itself. */
  env: NodeJS.ProcessEnv
  /** `make <target> [VAR=value…]` in the repository, as a person runs it, on this project. */
  make: (target: string, ...variables: string[]) => Promise<CommandResult>
  /** `docker compose …` on this project; rejects on a non-zero exit. */
  compose: (...args: string[]) => Promise<string>
  /** `docker …`; rejects on a non-zero exit. */
  docker: (...args: string[]) => Promise<string>
  /** The container id of a service. */
  container: (service: string) => Promise<string>
  /** `docker inspect` of a service's container. */
  inspect: (service: string) => Promise<any>
}

/**
 * A compose project of its own (name, host port, secret files), removed with its
 * volumes and image when the test ends. Its environment is decided here, not
 * inherited: only what the docker CLI needs to find its engine comes from the host.
 * The project and its secrets folder are named after this test process, so that
 * if it is killed, the next run's preflight removes them (`removeOrphanStacks`).
 */
export async function createStack (t: Test, prefix = 'e2e', extraEnv: NodeJS.ProcessEnv = {}): Promise<Stack> {
  const project = `${ownerTag()}-${prefix}-${randomBytes(4).toString('hex')}`
  const port = await freePort()
  const secretsDir = await mkdtemp(ownedTempPrefix(`${prefix}-secrets`))
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...pick(process.env, ['DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'DOCKER_CERT_PATH', 'DOCKER_TLS_VERIFY']),
    COMPOSE_PROJECT_NAME: project,
    SECRETS_DIR: secretsDir,
    WEB_PORT: `127.0.0.1:${port}`,
    ...extraEnv
  }

  const exec = async (command: string, args: string[]): Promise<CommandResult> => {
    try {
      const { stdout, stderr } = await run(command, args, { cwd: TOP, env, maxBuffer: 64 * 1024 * 1024 })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { code?: number, stdout?: string, stderr?: string }
      if (typeof failed.code !== 'number') throw error
      return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
    }
  }
  const checked = async (command: string, args: string[]): Promise<string> => {
    const result = await exec(command, args)
    if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${result.stderr}${result.stdout}`)
    return result.stdout
  }

  const stack: Stack = {
    project,
    url: `http://127.0.0.1:${port}`,
    secretsDir,
    env,
    make: async (target, ...variables) => await exec('make', ['-C', TOP, target, ...variables]),
    compose: async (...args) => await checked('docker', ['compose', ...args]),
    docker: async (...args) => await checked('docker', args),
    container: async (service) => {
      const id = (await stack.compose('ps', '-q', service)).trim()
      if (id === '') throw new Error(`service ${service} has no container`)
      return id
    },
    inspect: async (service) => JSON.parse(await stack.docker('inspect', await stack.container(service)))[0]
  }

  t.teardown(async () => {
    await exec('docker', ['compose', 'down', '--volumes', '--remove-orphans', '--rmi', 'local'])
    await rm(secretsDir, { recursive: true, force: true })
  })
  return stack
}

/** Writes a secret file of the stack, as a person upgrading from the older stack does. */
export async function writeSecret (stack: Stack, name: string, value: string): Promise<void> {
  await writeFile(join(stack.secretsDir, `${name}.txt`), `${value}\n`, { mode: 0o644 })
}

function pick (env: NodeJS.ProcessEnv, names: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(names.filter((name) => env[name] !== undefined).map((name) => [name, env[name]]))
}

export const PROJECT_LABEL = 'com.docker.compose.project'

/** `docker …`'s output lines; rejects on a non-zero exit. */
export async function dockerLines (...args: string[]): Promise<string[]> {
  return (await run('docker', args)).stdout.split('\n').filter((line) => line !== '')
}

/** Whether `name` starts with the tag of a test process that has ended. */
function orphaned (name: string): boolean {
  const owner = ownerIn(name)
  return owner !== undefined && isGone(owner)
}

/**
 * Removes the compose projects of test processes that have ended (a file tap
 * killed at its timeout never ran its teardown): their containers, networks and
 * volumes, found by compose's project label, so that no compose file is needed,
 * and the images compose built for them, which it names after the project.
 * Returns the names of the projects and images removed.
 */
export async function removeOrphanStacks (): Promise<string[]> {
  const format = ['--format', `{{.Label "${PROJECT_LABEL}"}}`]
  const projects = [...new Set([
    ...await dockerLines('ps', '--all', ...format),
    ...await dockerLines('network', 'ls', ...format),
    ...await dockerLines('volume', 'ls', ...format)
  ])].filter(orphaned)
  for (const project of projects) {
    const labelled = ['--filter', `label=${PROJECT_LABEL}=${project}`, '--quiet']
    const containers = await dockerLines('ps', '--all', ...labelled)
    if (containers.length > 0) await run('docker', ['rm', '--force', '--volumes', ...containers])
    const networks = await dockerLines('network', 'ls', ...labelled)
    if (networks.length > 0) await run('docker', ['network', 'rm', ...networks])
    const volumes = await dockerLines('volume', 'ls', ...labelled)
    if (volumes.length > 0) await run('docker', ['volume', 'rm', ...volumes])
  }
  // By name, not by id: an identical build of a live project shares the id and keeps it.
  const images = (await dockerLines('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}')).filter(orphaned)
  if (images.length > 0) await run('docker', ['image', 'rm', ...images])
  return [...projects, ...images]
}
