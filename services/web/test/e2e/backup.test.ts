import { execFile } from 'node:child_process'
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { checkBody } from '../helpers/app.js'
import { fetchResponse } from '../helpers/server.js'
import { backup, backupStack, data, fromManifest, ownLines, psql, readManifest, said } from './backups.js'
import { TOP, writeSecret } from './stack.js'

// make backup and make restore on throwaway projects, driven as a person does:
// make with the project's COMPOSE_PROJECT_NAME, SECRETS_DIR and BACKUPS_DIR.

const run = promisify(execFile)

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

  await t.test('make backup where it cannot write fails in one line and leaves nothing behind', async (t) => {
    const scratch = await mkdtemp(join(tmpdir(), 'e2e-backup-scratch-'))
    t.teardown(async () => await rm(scratch, { recursive: true, force: true }))
    const file = join(scratch, 'a-file')
    await writeFile(file, '')
    const notDir = await stack.make('backup', `BACKUPS_DIR=${join(file, 'backups')}`)
    t.not(notDir.code, 0)
    t.match(said(notDir), [/^make backup: failed while creating .*Not a directory; nothing was kept\.$/])
    // A dump larger than the full folder.
    await psql(stack, "INSERT INTO acessos (endpoint) SELECT '/db/test' FROM generate_series(1, 20000)")
    // Folders of the test's own: a read-only and a full tmpfs (root, as make e2e runs here).
    for (const [options, reason] of [['ro,size=1m', /Read-only file system; nothing was kept\.$/i], ['size=16k', /no space left on device; nothing was kept\.$/i]] as const) {
      const dir = join(scratch, options.replace(/\W/g, '-'))
      await mkdir(dir)
      await run('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir])
      t.teardown(async () => { await run('umount', [dir]) })
      const result = await stack.make('backup', `BACKUPS_DIR=${dir}`)
      t.not(result.code, 0, `make backup into a ${options} tmpfs fails`)
      t.match(said(result), [/^make backup: failed while /])
      t.match(said(result), [reason])
      t.same(await readdir(dir), [], 'no .partial folder and no backup left')
    }
  })

  await t.test('two backups in the same second both succeed', async (t) => {
    // date answers one fixed UTC second, as two backups within a second see it.
    const bin = await mkdtemp(join(tmpdir(), 'e2e-backup-date-'))
    t.teardown(async () => await rm(bin, { recursive: true, force: true }))
    const date = (await run('sh', ['-c', 'command -v date'])).stdout.trim()
    await writeFile(join(bin, 'date'), `#!/bin/sh\ncase "$*" in *-u*) echo 2030-01-01T00:00:00Z ;; *) exec ${date} "$@" ;; esac\n`)
    await chmod(join(bin, 'date'), 0o755)
    const dirs: string[] = []
    for (let i = 0; i < 2; i++) {
      const result = await stack.make('backup', `PATH=${bin}:${process.env.PATH ?? ''}`)
      t.equal(result.code, 0, `backup ${i + 1}: ${result.stderr}`)
      dirs.push(ownLines(result.stdout).at(-1) ?? '')
    }
    t.same(dirs.map((dir) => dir.split('/').at(-1)), ['20300101T000000Z', '20300101T000000Z-2'])
    for (const dir of dirs) t.equal((await readManifest(dir)).postgresql.acessos.rows, (await data(stack)).rows)
  })

  await t.test('the cron line of docs/operations.md makes a backup on a fresh clone', async (t) => {
    const doc = await readFile(join(TOP, 'docs', 'operations.md'), 'utf8')
    const command = doc.match(/^[\d*]+ [\d*]+ [\d*]+ [\d*]+ [\d*]+ (cd (\S+) && .*)$/m)
    t.ok(command, 'the doc has a cron line')
    // The repository's tracked files, as a clone has them: no backups/ yet.
    const clone = await mkdtemp(join(tmpdir(), 'e2e-backup-clone-'))
    t.teardown(async () => await rm(clone, { recursive: true, force: true }))
    for (const file of (await run('git', ['-C', TOP, 'ls-files'])).stdout.trim().split('\n')) {
      await cp(join(TOP, file), join(clone, file), { recursive: true })
    }
    const { BACKUPS_DIR: _ownFolder, ...env } = stack.env
    await run('sh', ['-c', (command?.[1] ?? '').replace(command?.[2] ?? '', clone)], { env })
    const log = await readFile(join(clone, 'backups', 'cron.log'), 'utf8')
    const dir = ownLines(log).at(-1) ?? ''
    t.match(dir, new RegExp(`^${clone}/backups/\\d{8}T\\d{6}Z$`), 'the log ends with the new backup')
    t.equal((await readManifest(dir)).postgresql.acessos.rows, (await data(stack)).rows)
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
