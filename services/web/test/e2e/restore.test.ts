import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { fetchResponse } from '../helpers/server.js'
import { waitUntil } from '../helpers/timing.js'
import {
  backup, backupFiles, data, exists, faultyDocker, fromManifest, ids, psql, safetyBackup, said, servingStackWithBackup, spawnRestore, wayBack
} from './backups.js'

// make restore as operators meet it: on a stack that is serving, failing
// midway, and refusing what it must not restore (killed at each stage:
// restore-killed.test.ts). One stack for the whole file; each test starts from
// the data it finds.

const { stack, target, moveOn } = await servingStackWithBackup(t, 'e2e-restore')

interface Ack { kind: 'id' | 'counter', value: number, at: number }

await t.test('a restore under traffic: exit 0, every acknowledged write kept, and exactly the backup below its highest id', async (t) => {
  await moveOn()
  const acks: Ack[] = []
  const restore = spawnRestore(stack, target.dir)
  const state = { restoring: true }
  restore.ended.then(() => { state.restoring = false }, () => {})
  // Four clients, each alternating /db/test and /cache/test, from before the
  // restore until each has been answered five times after it ended.
  const client = async () => {
    let afterwards = 0
    for (let call = 0; state.restoring || afterwards < 5; call++) {
      const path = call % 2 === 0 ? '/db/test' : '/cache/test'
      const response = await fetchResponse(`${stack.url}${path}`).catch(() => undefined)
      if (response?.statusCode !== 200) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        continue
      }
      const body = JSON.parse(response.body) as { acesso_id?: number, contador?: number }
      const at = performance.now()
      if (body.acesso_id !== undefined) acks.push({ kind: 'id', value: body.acesso_id, at })
      if (body.contador !== undefined) acks.push({ kind: 'counter', value: body.contador, at })
      if (!state.restoring) afterwards++
    }
  }
  const clients = Promise.all([client(), client(), client(), client()])
  const result = await restore.ended
  await clients
  t.equal(result.code, 0, `make restore exits 0: ${result.stderr}`)

  // Only the web the restore starts answers after this line.
  const startingWeb = restore.saidAt(/^make restore: starting web$/) ?? -Infinity
  const served = acks.filter((ack) => ack.at < startingWeb)
  const later = acks.filter((ack) => ack.at > startingWeb)
  t.ok(served.length > 0 && later.length > 0, `answers before web stopped (${served.length}) and after it came back (${later.length})`)
  const safety = safetyBackup(restore.output())
  t.ok(safety, 'names its safety backup')
  const kept = await backupFiles(stack, safety ?? '')
  const keptIds = new Set(kept.ids)
  t.same(served.filter((ack) => ack.kind === 'id' && !keptIds.has(ack.value)), [], 'every id answered before web stopped is in the safety backup\'s dump')
  const keptCounter = Number(kept.keys.contador_acessos)
  t.same(served.filter((ack) => ack.kind === 'counter' && ack.value > keptCounter), [], 'every counter answered before web stopped is in the safety backup\'s snapshot')

  const now = new Set(await ids(stack))
  t.same(later.filter((ack) => ack.kind === 'id' && !now.has(ack.value)), [], 'every id answered after web came back is in the database')
  const restored = await backupFiles(stack, target.dir)
  const highest = target.manifest.postgresql.acessos.highest_id
  t.same([...now].filter((id) => id <= highest), restored.ids, 'the rows up to the backup\'s highest id are exactly the backup\'s')
  t.ok(later.filter((ack) => ack.kind === 'id').every((ack) => ack.value > highest), 'new ids follow the backup\'s highest')
  const counter = Number(target.manifest.redis.keys.contador_acessos)
  t.ok(later.filter((ack) => ack.kind === 'counter').every((ack) => ack.value > counter), 'the counter goes on from the backup\'s')
})

await t.test('db stopped midway: the printed command brings back the data from before', async (t) => {
  const before = await moveOn()
  const db = await stack.container('db')
  const fault = await faultyDocker(t, stack, '--single-transaction', 'pass', `docker stop ${db}`)
  const restore = spawnRestore(stack, target.dir, fault.env)
  const result = await restore.ended
  t.not(result.code, 0)
  t.match(said(result).slice(-3), [/restoring PostgreSQL\.$/, /^make restore: now db is stopped, cache holds the data from before, web is stopped\.$/, /make restore BACKUP=/])
  await wayBack(t, stack, restore.output(), before)
})

await t.test('the Redis swap failing: the printed command brings back the data from before', async (t) => {
  const before = await moveOn()
  const fault = await faultyDocker(t, stack, '-swap --label', 'fail')
  const restore = spawnRestore(stack, target.dir, fault.env)
  const result = await restore.ended
  t.not(result.code, 0)
  t.match(said(result).slice(-3), [/could not be put in place while restoring Redis\.$/,
    /^make restore: now db holds the backup's data, cache is stopped, web is stopped\.$/, /make restore BACKUP=/])
  await wayBack(t, stack, restore.output(), before)
})

await t.test('a backup file changed after its check changes nothing: the checked copy is restored', async (t) => {
  await moveOn()
  const dump = join(target.dir, 'postgres.dump')
  const original = await readFile(dump)
  t.teardown(async () => await writeFile(dump, original))
  const fault = await faultyDocker(t, stack, '--single-transaction', 'pass', `printf 'changed' > '${dump}'`)
  const result = await spawnRestore(stack, target.dir, fault.env).ended
  t.equal(result.code, 0, `make restore: ${result.stderr}`)
  t.ok(await exists(fault.report), 'the file was changed while the restore ran')
  t.same(await data(stack), fromManifest(target.manifest), 'the backup as checked')
})

await t.test('a second restore while one runs is refused, and changes nothing', async (t) => {
  await moveOn()
  const fault = await faultyDocker(t, stack, '-stage --label', 'hold')
  const first = spawnRestore(stack, target.dir, fault.env)
  await waitUntil(async () => await exists(fault.report), 'the first restore is preparing')
  const before = await data(stack)
  const second = await stack.make('restore', `BACKUP=${target.dir}`, 'FORCE=1')
  t.not(second.code, 0)
  t.match(said(second), [/^make restore: refused, nothing was changed: another make restore is running on project /])
  t.same(await data(stack), before)
  first.signal('SIGINT')
  await first.ended
})

await t.test('a backup of a newer schema is refused in one line, and nothing changes', async (t) => {
  await psql(stack, "INSERT INTO schemaversion (version, name, md5, run_at) VALUES (99, 'from-newer-code', '', now())")
  const newer = await backup(t, stack)
  await psql(stack, 'DELETE FROM schemaversion WHERE version = 99')
  t.equal(newer.manifest.postgresql.schema_version, 99, 'the manifest records the schema version')
  const before = await moveOn()
  const result = await stack.make('restore', `BACKUP=${newer.dir}`, 'FORCE=1')
  t.not(result.code, 0)
  t.match(said(result), [/^make restore: refused, nothing was changed: .* has schema version 99 and web's migrations go up to 2: /])
  t.same(await data(stack), before)
})

await t.test('a backup of another Redis database is refused, and restored into web\'s on purpose with REDIS_DB_MOVE=1', async (t) => {
  t.equal(target.manifest.redis.db, 0, 'the backup holds database 0')
  t.equal((await stack.make('up', 'REDIS_DB=5')).code, 0, 'web now reads database 5')
  t.teardown(async () => { await stack.make('up') })
  const before = { ...await data(stack), moved: await data(stack, 5) }
  const refused = await stack.make('restore', `BACKUP=${target.dir}`, 'FORCE=1')
  t.not(refused.code, 0)
  t.match(said(refused), [/^make restore: refused, nothing was changed: .* holds Redis database 0 and web reads database 5: .* add REDIS_DB_MOVE=1$/])
  t.same({ ...await data(stack), moved: await data(stack, 5) }, before, 'nothing changed')

  const moved = await stack.make('restore', `BACKUP=${target.dir}`, 'FORCE=1', 'REDIS_DB_MOVE=1')
  t.equal(moved.code, 0, `make restore: ${moved.stderr}`)
  t.match(moved.stdout, /the backup's Redis database 0 goes into web's database 5, as REDIS_DB_MOVE=1 asks/)
  t.same((await data(stack, 5)).keys, target.manifest.redis.keys, 'web\'s database holds the backup\'s keys')
})
