import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Test } from 'tap'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { checkBody } from '../helpers/app.js'
import { fetchResponse } from '../helpers/server.js'
import { createStack, writeSecret, type CommandResult, type Stack } from './stack.js'

// make backup and make restore on throwaway projects, driven as a person does:
// make with the project's COMPOSE_PROJECT_NAME, SECRETS_DIR and BACKUPS_DIR.

const KEYS = ['contador_acessos', 'ultimo_acesso', 'integracao_contador', 'integracao_timestamp'] as const

interface Data {
  rows: number
  highestId: number
  keys: Record<string, string | null>
}

interface Manifest {
  postgresql: { acessos: { rows: number, highest_id: number } }
  redis: { keys: Record<string, string | null> }
}

/** A stack of its own whose backups go to a folder of its own, both removed at the end. */
async function backupStack (t: Test, prefix: string, env: NodeJS.ProcessEnv = {}): Promise<Stack & { backups: string }> {
  const backups = await mkdtemp(join(tmpdir(), `${prefix}-backups-`))
  t.teardown(async () => await rm(backups, { recursive: true, force: true }))
  return { ...await createStack(t, prefix, { BACKUPS_DIR: backups, ...env }), backups }
}

/** What the stack holds now, read inside db and cache. */
async function data (stack: Stack): Promise<Data> {
  const sql = 'SELECT count(*), coalesce(max(id), 0) FROM acessos'
  const row = await stack.compose('exec', '-T', 'db', 'sh', '-c', 'psql -XAt -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', 'sh', sql)
  const [rows, highestId] = row.trim().split('|').map(Number)
  const values = await stack.compose('exec', '-T', 'cache', 'sh', '-c',
    'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" redis-cli --json mget "$@"', 'sh', ...KEYS)
  const list = JSON.parse(values) as Array<string | null>
  return { rows: rows ?? NaN, highestId: highestId ?? NaN, keys: Object.fromEntries(KEYS.map((key, i) => [key, list[i] ?? null])) }
}

function fromManifest (manifest: Manifest): Data {
  return { rows: manifest.postgresql.acessos.rows, highestId: manifest.postgresql.acessos.highest_id, keys: manifest.redis.keys }
}

/** make backup; returns the backup's directory (its last line of output) and manifest. */
async function backup (t: Test, stack: Stack): Promise<{ dir: string, manifest: Manifest }> {
  const result = await stack.make('backup')
  t.equal(result.code, 0, `make backup: ${result.stderr}`)
  const dir = ownLines(result.stdout).at(-1) ?? ''
  t.match(result.stdout, /one after the other/, 'says how the two snapshots relate')
  return { dir, manifest: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) }
}

/** The lines of output the script wrote, without make's own (directory changes, errors). */
function ownLines (output: string): string[] {
  return output.trim().split('\n').filter((line) => !/^make(\[\d+\])?: /.test(line))
}

/** What the command said on stderr. */
function said (result: CommandResult): string[] {
  return ownLines(result.stderr)
}

const psql = async (stack: Stack, sql: string) =>
  await stack.compose('exec', '-T', 'db', 'sh', '-c', 'psql -X -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', 'sh', sql)

await t.test('a backup restores into an empty stack exactly; damaged backups are refused', async (t) => {
  const stack = await backupStack(t, 'e2e-backup')
  const get = async (path: string) => await fetchResponse(`${stack.url}${path}`)
  const up = await stack.make('up')
  t.equal(up.code, 0, `make up: ${up.stderr.slice(-2000)}`)

  for (let i = 0; i < 3; i++) await get('/db/test')
  for (let i = 0; i < 2; i++) await get('/cache/test')
  await get('/integracao')
  // An insert rolled back still moves the id sequence past the highest id, as
  // one in flight while pg_dump runs does.
  await psql(stack, "BEGIN; INSERT INTO acessos (endpoint) VALUES ('/db/test'); ROLLBACK")
  // web keeps answering while the backup runs: polled from the host until it ends.
  const state = { backingUp: true }
  const statuses: number[] = []
  const running = backup(t, stack).finally(() => { state.backingUp = false })
  while (state.backingUp) statuses.push((await get('/health/ready').catch(() => undefined))?.statusCode ?? 0)
  const taken = await running
  t.ok(statuses.length > 0 && statuses.every((status) => status === 200), `web ready throughout the backup (${statuses.length} requests)`)
  t.same(fromManifest(taken.manifest), await data(stack), 'the manifest states the rows, highest id and keys the stack held')
  for (let i = 0; i < 2; i++) await get('/db/test')
  await get('/cache/test')

  await t.test('a corrupted dump and a truncated manifest get one line, and nothing changes', async (t) => {
    const corrupt = join(stack.backups, 'corrupt')
    await cp(taken.dir, corrupt, { recursive: true })
    const dump = join(corrupt, 'postgres.dump')
    const bytes = await readFile(dump)
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff
    await writeFile(dump, bytes)
    const truncated = join(stack.backups, 'truncated')
    await cp(taken.dir, truncated, { recursive: true })
    await truncate(join(truncated, 'manifest.json'), 200)

    for (const [dir, reason] of [[corrupt, /does not match its sha256/], [truncated, /not complete JSON/]] as const) {
      const before = await data(stack)
      const result = await stack.make('restore', `BACKUP=${dir}`, 'FORCE=1')
      t.not(result.code, 0, 'make restore fails')
      const lines = said(result)
      t.equal(lines.length, 1, 'one line')
      t.match(lines[0], /^make restore: refused, nothing was changed: /)
      t.match(lines[0], reason)
      t.same(await data(stack), before, 'rows and counters are as they were')
    }
  })

  await t.test('without a terminal and without FORCE=1 make restore refuses', async (t) => {
    const before = await data(stack)
    const result = await stack.make('restore', `BACKUP=${taken.dir}`)
    t.not(result.code, 0)
    t.match(said(result), [/FORCE=1/])
    t.same(await data(stack), before)
  })

  await t.test('down -v, up, restore: exactly the backup, and ids go on after its highest', async (t) => {
    await stack.compose('down', '--volumes')
    t.equal((await stack.make('up')).code, 0, 'make up on empty volumes')
    t.equal((await data(stack)).rows, 0, 'the new stack is empty')
    const result = await stack.make('restore', `BACKUP=${taken.dir}`, 'FORCE=1')
    t.equal(result.code, 0, `make restore: ${result.stderr}`)
    t.match(result.stdout, /safety backup of the data being replaced: /)
    const expected = fromManifest(taken.manifest)
    t.same(await data(stack), expected, 'the backup\'s rows, highest id and keys')
    t.match(checkBody(t, await get('/db/test'), 200, dbTestSchema),
      { acesso_id: expected.highestId + 1, total_acessos: expected.rows + 1 }, 'the next id follows the backup\'s highest')
    t.match(checkBody(t, await get('/cache/test'), 200, cacheTestSchema),
      { contador: Number(expected.keys.contador_acessos) + 1 }, 'the counter goes on from the backup\'s')
  })

  await t.test('a restore at 100,000 rows: how long web was down', async (t) => {
    await psql(stack, "INSERT INTO acessos (endpoint) SELECT '/db/test' FROM generate_series(1, 100000)")
    const big = await backup(t, stack)
    t.equal(big.manifest.postgresql.acessos.rows, (await data(stack)).rows)
    await get('/db/test')
    // Polls web from the host while the restore runs, until it has finished.
    const state = { restoring: true }
    let downSince: number | undefined
    let downMs = 0
    const restore = stack.make('restore', `BACKUP=${big.dir}`, 'FORCE=1').finally(() => { state.restoring = false })
    while (state.restoring) {
      const ok = (await fetchResponse(`${stack.url}/health/ready`).catch(() => undefined))?.statusCode === 200
      const now = performance.now()
      if (!ok && downSince === undefined) downSince = now
      if (ok && downSince !== undefined) {
        downMs += now - downSince
        downSince = undefined
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const result = await restore
    t.equal(result.code, 0, `make restore: ${result.stderr}`)
    t.comment(`restore of ${big.manifest.postgresql.acessos.rows} rows: web was down for ${Math.round(downMs)} ms as seen from the host; the script said: ${ownLines(result.stdout).at(-1) ?? ''}`)
    t.equal(downSince, undefined, 'web answers again when make restore returns')
    t.same(await data(stack), fromManifest(big.manifest))
  })
})

await t.test('the older stack\'s volumes, upgraded in place: a backup right after make up restores them exactly', async (t) => {
  const FLASK_STACK = fileURLToPath(new URL('fixtures/flask-stack.yaml', import.meta.url))
  const PASSWORD = 'older-stack-pa55'
  const stack = await backupStack(t, 'e2e-backup-upgrade', { FLASK_DB_PASSWORD: PASSWORD })
  const flask = async (...args: string[]) => await stack.compose('-f', FLASK_STACK, ...args)
  await flask('up', '-d', '--wait')
  await flask('exec', '-T', 'db', 'psql', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', 'desafio3', '-c',
    'CREATE TABLE acessos (id SERIAL PRIMARY KEY, endpoint TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP);' +
    "INSERT INTO acessos (endpoint) SELECT '/db/test' FROM generate_series(1, 5);")
  const older: Array<[string, string]> = [['contador_acessos', '41'], ['integracao_contador', '7'], ['ultimo_acesso', '2025-11-19T21:30:00']]
  for (const [key, value] of older) {
    await flask('exec', '-T', 'cache', 'redis-cli', 'SET', key, value)
  }
  await flask('down')
  await writeSecret(stack, 'db_password', PASSWORD)
  t.equal((await stack.make('up')).code, 0, 'make up on the older volumes')
  const before = await data(stack)
  t.same(before, { rows: 5, highestId: 5, keys: { contador_acessos: '41', ultimo_acesso: '2025-11-19T21:30:00', integracao_contador: '7', integracao_timestamp: null } })
  const taken = await backup(t, stack)
  t.same(fromManifest(taken.manifest), before)

  await stack.compose('down', '--volumes')
  t.equal((await stack.make('up')).code, 0, 'make up on empty volumes')
  const result = await stack.make('restore', `BACKUP=${taken.dir}`, 'FORCE=1')
  t.equal(result.code, 0, `make restore: ${result.stderr}`)
  t.same(await data(stack), before, 'rows, highest id and keys as the upgraded stack had them')
  t.match(checkBody(t, await fetchResponse(`${stack.url}/db/test`), 200, dbTestSchema), { acesso_id: 6, total_acessos: 6 })
})
