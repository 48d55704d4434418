import { execFileSync, spawn } from 'node:child_process'
import { access, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { fetchResponse } from '../helpers/server.js'
import { createStack, TOP, type CommandResult, type Stack } from './stack.js'

// What the backup and restore tests share: a stack whose backups go to a folder
// of its own, what the stack or a backup's own files hold, and make restore
// spawned so that a test can read its output as it comes and signal it.

export const KEYS = ['contador_acessos', 'ultimo_acesso', 'integracao_contador', 'integracao_timestamp'] as const

export interface Data {
  rows: number
  highestId: number
  keys: Record<string, string | null>
}

export interface Manifest {
  postgresql: { schema_version: number, acessos: { rows: number, highest_id: number } }
  redis: { db: number, keys: Record<string, string | null> }
}

export type BackupStack = Stack & { backups: string }

/** A stack of its own whose backups go to a folder of its own, both removed at the end. */
export async function backupStack (t: Test, prefix: string, env: NodeJS.ProcessEnv = {}): Promise<BackupStack> {
  const backups = await mkdtemp(join(tmpdir(), `${prefix}-backups-`))
  t.teardown(async () => await rm(backups, { recursive: true, force: true }))
  return { ...await createStack(t, prefix, { BACKUPS_DIR: backups, ...env }), backups }
}

const keysOf = (json: string): Data['keys'] => {
  const list = JSON.parse(json) as Array<string | null>
  return Object.fromEntries(KEYS.map((key, i) => [key, list[i] ?? null]))
}

/** What the stack holds now, read inside db and cache (Redis database `db`). */
export async function data (stack: Stack, db = 0): Promise<Data> {
  const row = await psql(stack, 'SELECT count(*), coalesce(max(id), 0) FROM acessos', '-At')
  const [rows, highestId] = row.trim().split('|').map(Number)
  const values = await stack.compose('exec', '-T', 'cache', 'sh', '-c',
    'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli --json -n "$0" mget "$@"', String(db), ...KEYS)
  return { rows: rows ?? NaN, highestId: highestId ?? NaN, keys: keysOf(values) }
}

/** Every id in acessos now. */
export async function ids (stack: Stack): Promise<number[]> {
  return (await psql(stack, 'SELECT id FROM acessos ORDER BY id', '-At')).trim().split('\n').filter(Boolean).map(Number)
}

/** psql -c SQL inside db; `-At` and the like as `flags`. */
export async function psql (stack: Stack, sql: string, ...flags: string[]): Promise<string> {
  return await stack.compose('exec', '-T', 'db', 'sh', '-c',
    'psql -X -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"', 'sh', ...flags, '-c', sql)
}

export function fromManifest (manifest: Manifest): Data {
  return { rows: manifest.postgresql.acessos.rows, highestId: manifest.postgresql.acessos.highest_id, keys: manifest.redis.keys }
}

export async function readManifest (dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
}

export interface Taken { dir: string, manifest: Manifest }

/** make backup; returns the backup's directory (its last line of output) and manifest. */
export async function backup (t: Test, stack: Stack): Promise<Taken> {
  const result = await stack.make('backup')
  t.equal(result.code, 0, `make backup: ${result.stderr}`)
  const dir = ownLines(result.stdout).at(-1) ?? ''
  t.match(result.stdout, /one after the other/, 'says how the two snapshots relate')
  return { dir, manifest: await readManifest(dir) }
}

/**
 * What a backup's own files hold, each read by a throwaway container of the
 * stack's images: every id in postgres.dump, and the four keys of Redis
 * database `db` in redis.rdb.
 */
export async function backupFiles (stack: Stack, dir: string, db = 0): Promise<{ ids: number[], keys: Data['keys'] }> {
  const image = async (service: string) => (await stack.inspect(service)).Image as string
  const dump = await stack.docker('run', '--rm', '--network', 'none', '-v', `${dir}:/backup:ro`, '--entrypoint', 'sh', await image('db'), '-c',
    'pg_restore --data-only --table=acessos -f - /backup/postgres.dump')
  const copying = dump.split('\n')
  const from = copying.findIndex((line) => line.startsWith('COPY public.acessos '))
  const rows = copying.slice(from + 1, copying.indexOf('\\.', from))
  const keys = await stack.docker('run', '--rm', '--network', 'none', '-v', `${dir}:/backup:ro`, '--entrypoint', 'sh', await image('cache'), '-c', `
    cp /backup/redis.rdb /tmp/dump.rdb
    redis-server --dir /tmp --dbfilename dump.rdb --port 0 --unixsocket /tmp/s.sock --save "" --daemonize yes --logfile /tmp/log
    until redis-cli -s /tmp/s.sock ping 2>/dev/null | grep -q PONG; do sleep 0.1; done
    exec redis-cli -s /tmp/s.sock --json -n "$0" mget "$@"`, String(db), ...KEYS)
  return { ids: rows.map((line) => Number(line.split('\t')[0])), keys: keysOf(keys) }
}

/** The lines of output the script wrote, without make's own (directory changes, errors). */
export function ownLines (output: string): string[] {
  return output.trim().split('\n').filter((line) => !/^make(\[\d+\])?: /.test(line))
}

/** What the command said on stderr. */
export function said (result: CommandResult): string[] {
  return ownLines(result.stderr)
}

export interface RunningRestore {
  /** stdout and stderr as they came, interleaved. */
  output: () => string
  /** When a line matching `line` came (performance.now()), if one has. */
  saidAt: (line: RegExp) => number | undefined
  /** Sends `signal` to the restore's process group, as Ctrl-C or a kill of the whole job does. */
  signal: (signal: NodeJS.Signals) => void
  ended: Promise<CommandResult>
}

/** `make restore BACKUP=dir FORCE=1` in a process group of its own; `env` adds to the stack's. */
export function spawnRestore (stack: Stack, dir: string, env: NodeJS.ProcessEnv = {}, ...variables: string[]): RunningRestore {
  const child = spawn('make', ['-C', TOP, 'restore', `BACKUP=${dir}`, 'FORCE=1', ...variables],
    { env: { ...stack.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let stdout = ''
  let stderr = ''
  const lines: Array<{ text: string, at: number }> = []
  const read = (chunk: Buffer) => {
    const at = performance.now()
    const text = chunk.toString()
    const last = output.lastIndexOf('\n') + 1
    output += text
    for (const line of output.slice(last).split('\n').slice(0, -1)) lines.push({ text: line, at })
    return text
  }
  child.stdout.on('data', (chunk: Buffer) => { stdout += read(chunk) })
  child.stderr.on('data', (chunk: Buffer) => { stderr += read(chunk) })
  const ended = new Promise<CommandResult>((resolve) => {
    child.once('close', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }))
  })
  return {
    output: () => output,
    saidAt: (line) => lines.find((each) => line.test(each.text))?.at,
    signal: (signal) => process.kill(-(child.pid ?? 0), signal),
    ended
  }
}

/** The safety backup a restore named, if it got that far. */
export function safetyBackup (output: string): string | undefined {
  return output.match(/^safety backup of the data being replaced: (\S+)$/m)?.[1]
}

/** A serving stack and a backup of it, made in a first subtest of `t`; the stack is removed at the end of `t`. */
export async function servingStackWithBackup (t: Test, prefix: string): Promise<{ stack: BackupStack, target: Taken, moveOn: () => Promise<Data> }> {
  const stack = await backupStack(t, prefix)
  let target: Taken | undefined
  await t.test('a serving stack, and a backup of it', async (t) => {
    const up = await stack.make('up')
    t.equal(up.code, 0, `make up: ${up.stderr.slice(-2000)}`)
    for (let i = 0; i < 5; i++) await fetchResponse(`${stack.url}/db/test`)
    for (let i = 0; i < 3; i++) await fetchResponse(`${stack.url}/cache/test`)
    await fetchResponse(`${stack.url}/integracao`)
    target = await backup(t, stack)
  })
  if (target === undefined) throw new Error('no backup to restore')
  /** Moves the data on from the backup, so that a restore changes something. */
  const moveOn = async (): Promise<Data> => {
    for (let i = 0; i < 2; i++) await fetchResponse(`${stack.url}/db/test`)
    await fetchResponse(`${stack.url}/cache/test`)
    return await data(stack)
  }
  return { stack, target, moveOn }
}

const FAULT_DOCKER = fileURLToPath(new URL('fixtures/docker-fault.sh', import.meta.url))

/** A docker first on PATH that meets the first call matching `match` with `mode` (fixtures/docker-fault.sh). */
export async function faultyDocker (t: Test, stack: Stack, match: string, mode: 'fail' | 'hold' | 'pass', before = ''): Promise<{ env: NodeJS.ProcessEnv, report: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'e2e-restore-fault-'))
  t.teardown(async () => await rm(dir, { recursive: true, force: true }))
  await symlink(FAULT_DOCKER, join(dir, 'docker'))
  const report = join(dir, 'report')
  const real = execFileSync('sh', ['-c', 'command -v docker'], { env: stack.env }).toString().trim()
  return {
    env: { PATH: `${dir}:${stack.env.PATH ?? ''}`, FAULT_DOCKER: real, FAULT_MATCH: match, FAULT_MODE: mode, FAULT_BEFORE: before, FAULT_REPORT: report },
    report
  }
}

export const exists = async (path: string) => await access(path).then(() => true, () => false)

/**
 * After a failed restore: the way back it printed (the safety backup's restore,
 * or make up when no safety backup was named), run as printed, brings back
 * exactly `before`; a restore that stopped before web did leaves web serving.
 */
export async function wayBack (t: Test, stack: Stack, output: string, before: Data): Promise<void> {
  const back = output.match(/make restore BACKUP=(\S+)/)?.[1]
  if (back !== undefined) {
    const result = await stack.make('restore', `BACKUP=${back}`, 'FORCE=1')
    t.equal(result.code, 0, `the printed make restore BACKUP=${back}: ${result.stderr}`)
  } else if (output.includes('make restore: stopping web')) {
    t.match(output, /make up starts (web|it) again/, 'says make up starts web again')
    t.equal((await stack.make('up')).code, 0, 'the printed make up')
  }
  t.same(await data(stack), before, 'rows, highest id and the four keys as before the restore')
  t.equal((await fetchResponse(`${stack.url}/health/ready`)).statusCode, 200, 'web is ready')
}

// Each stage, by the docker call it is busy with (fixtures/docker-fault.sh).
export const STAGES: Array<[string, string]> = [
  ['preparing', '-stage --label'],
  ['stopping web', '^stop '],
  ['taking the safety backup', 'pg_dump -U'],
  ['restoring PostgreSQL', '--single-transaction'],
  ['restoring Redis', '-swap --label'],
  ['reading the restored data back', 'FROM acessos$'],
  ['starting web', '^exec [0-9a-f]+ node ']
]
