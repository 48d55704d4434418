import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * Everything a test file creates outside its own process (a database, a Redis
 * database, a spawned server, a temporary folder) is named after that process,
 * so that what a killed run left behind can be recognised and dropped: its
 * owner is gone. The host is part of the name because PostgreSQL and Redis may
 * serve test runs of other machines, whose process ids mean nothing here.
 */
export interface Owner {
  host: string
  pid: number
}

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 6)

/** This test process, as the owner of what it creates. */
export const self: Owner = { host: HOST, pid: process.pid }

/**
 * tap talks to each test file over an IPC channel. When the runner is killed,
 * the file would run on unread, holding what it took and competing with the
 * next run for the CPU, so it ends at once, with every process it started.
 * A runner killed while the file was still loading closed the channel before
 * anyone listened: the file ends as this module loads. SIGKILL, so that it
 * writes no coverage into the next run's folder; the next preflight drops what
 * it held outside processes.
 */
if (process.send !== undefined && !process.connected) endWithDescendants()
else process.once('disconnect', endWithDescendants)

function endWithDescendants (): void {
  for (const pid of [...descendants(process.pid), process.pid]) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // It ended by itself meanwhile.
    }
  }
}

/** The processes `pid` started, and theirs, parents first; synchronous, for a process about to end. */
function descendants (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    const parent = Number(statFields(Number(name))?.[1])
    children.set(parent, [...children.get(parent) ?? [], Number(name)])
  }
  const found: number[] = []
  for (let next = [pid]; next.length > 0; next = next.flatMap((parent) => children.get(parent) ?? [])) {
    found.push(...next.filter((each) => each !== pid))
  }
  return found
}

/**
 * The fields of /proc/<pid>/stat after the command name (the state, then the
 * parent's pid, …), or undefined once the process is gone. The name is in
 * parentheses and may hold spaces.
 */
function statFields (pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** `host_pid`: short, and valid in a database name, a Redis value and a file name. */
export function ownerTag ({ host, pid }: Owner = self): string {
  return `${host}_${pid}`
}

const TAG = /^([0-9a-f]{6})_(\d+)(?:[_-]|$)/

/** The owner named at the start of `text` (by `ownerTag`), if any. */
export function ownerIn (text: string): Owner | undefined {
  const match = TAG.exec(text)
  return match === null ? undefined : { host: match[1]!, pid: Number(match[2]) }
}

/** True when `owner` was a process of this machine and has ended: what it left is nobody's. */
export function isGone (owner: Owner): boolean {
  return owner.host === HOST && !isRunning(owner.pid)
}

/** Whether process `pid` runs: a killed process that its parent has not reaped yet (a zombie) does not. */
export function isRunning (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'
  }
  // Where /proc cannot be read, the signal's answer stands.
  return statFields(pid)?.[0] !== 'Z'
}

/** Marks a spawned process (a server, a redis-server) as this test's, in its environment. */
export const OWNER_VARIABLE = 'WEB_TEST_OWNER'

/** The prefix, for `mkdtemp`, of a temporary folder of this test's own: the next preflight removes it once its owner has ended. */
export function ownedTempPrefix (purpose: string): string {
  return join(tmpdir(), `${TEMP_PREFIX}${ownerTag()}-${purpose}-`)
}

/** A temporary folder of this test's own, named after it, removed when the test ends. */
export async function ownedTempDir (t: Test, purpose: string): Promise<string> {
  const dir = await mkdtemp(ownedTempPrefix(purpose))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const TEMP_PREFIX = 'web-test-'

/** Removes the temporary folders of owners that have ended; returns their names. */
export async function removeOrphanTempDirs (): Promise<string[]> {
  const orphans = (await readdir(tmpdir())).filter((name) => {
    const owner = name.startsWith(TEMP_PREFIX) ? ownerIn(name.slice(TEMP_PREFIX.length)) : undefined
    return owner !== undefined && isGone(owner)
  })
  await Promise.all(orphans.map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })))
  return orphans
}

/**
 * Kills the spawned processes whose owner has ended; returns their pids. It reads
 * each process's environment from /proc, so it does nothing where there is none.
 */
export async function killOrphanProcesses (): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [])).filter((name) => /^\d+$/.test(name)).map(Number)
  const killed: number[] = []
  for (const pid of pids) {
    const environment = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')
    const marker = environment.split('\0').find((entry) => entry.startsWith(`${OWNER_VARIABLE}=`))
    const owner = marker === undefined ? undefined : ownerIn(marker.slice(OWNER_VARIABLE.length + 1))
    if (owner === undefined || !isGone(owner)) continue
    try {
      process.kill(pid, 'SIGKILL')
      killed.push(pid)
    } catch {
      // It ended by itself meanwhile.
    }
  }
  return killed
}
