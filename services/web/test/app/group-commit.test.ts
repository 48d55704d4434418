import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type pg from 'pg'
import { dbTestSchema } from '../../src/routes/db.js'
import { statusSchema } from '../../src/routes/status.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { dependencyFailed } from '../../src/messages.js'
import { GroupCommit, type InsertedRow } from '../../src/repositories/group-commit.js'
import { buildTestApp, checkBody, type TestApp } from '../helpers/app.js'
import { integracaoResults } from '../helpers/endpoints.js'
import { connectDatabase } from '../helpers/services.js'
import { DOCUMENTED_TIMEOUT, waitUntil } from '../helpers/timing.js'

/** A stand-in for the group statement: hands out ids in order and remembers each group it got. */
function fakeInsert () {
  const groups: string[][] = []
  let nextId = 1
  const insert = async (endpoints: string[]): Promise<InsertedRow[]> => {
    groups.push(endpoints)
    return endpoints.map((endpoint) => ({ id: nextId++, endpoint }))
  }
  return { groups, insert }
}

t.test('a lone insert leaves on the next turn of the event loop, without waiting for a timer', async (t) => {
  const { groups, insert } = fakeInsert()
  const commit = new GroupCommit(insert, async () => 1, 1)
  const id = commit.add('/integracao')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(groups, [['/integracao']])
  t.equal(await id, 1)
})

t.test('when the total cannot be read, only the callers that wanted it fail; the others get their committed ids', async (t) => {
  const { groups, insert } = fakeInsert()
  const failure = new Error('total unavailable')
  const commit = new GroupCommit(insert, async () => { throw failure }, 1)
  const [counted, plain] = await Promise.allSettled([commit.addCounted('/db/test'), commit.add('/integracao')])
  t.same(groups, [['/db/test', '/integracao']], 'one group')
  t.same(counted, { status: 'rejected', reason: failure })
  t.same(plain, { status: 'fulfilled', value: 2 })
})

const DB_TESTS = 30
const INTEGRACOES = 10

/**
 * While `acessos` is locked: one /db/test, whose insert waits on the lock, then
 * a burst of mixed inserts, which arrive while that one is at PostgreSQL.
 */
async function burstBehindLock (app: TestApp['app'], admin: pg.Client, observer: pg.Client, database: string) {
  await admin.query('BEGIN')
  await admin.query('LOCK TABLE acessos IN ACCESS EXCLUSIVE MODE')
  const first = app.inject('/db/test')
  await waitUntil(async () => (await observer.query(
    "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' AND wait_event_type = 'Lock'", [database]
  )).rowCount! > 0, 'an insert waiting on the lock')
  const dbTests = [first, ...Array.from({ length: DB_TESTS - 1 }, () => app.inject('/db/test'))]
  const integracoes = Array.from({ length: INTEGRACOES }, () => app.inject('/integracao'))
  // inject dispatches every request within a few event-loop turns.
  await sleep(100)
  return { dbTests, integracoes }
}

t.test('inserts queued while a group is at PostgreSQL leave as one statement; at most DB_POOL_MAX/2 groups at once, so / keeps a connection', async (t) => {
  const { app, config } = await buildTestApp(t, { DB_POOL_MAX: '2', DEPENDENCY_TIMEOUT_MS: '5000' })
  const admin = await connectDatabase(t, config.DB_NAME)
  const observer = await connectDatabase(t, config.DB_NAME)
  const { dbTests, integracoes } = await burstBehindLock(app, admin, observer, config.DB_NAME)

  const { rows: [waiting] } = await observer.query<{ count: number }>(
    "SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND application_name = 'web' AND state = 'active'", [config.DB_NAME]
  )
  t.equal(waiting!.count, 1, 'one group at PostgreSQL (DB_POOL_MAX 2), the rest queued in the service')
  const status = checkBody(t, await app.inject('/'), 200, statusSchema)
  t.equal(status.servicos.database.status, 'conectado', '/ pings on the connection the inserts leave free')

  await admin.query('ROLLBACK')
  const bodies = (await Promise.all(dbTests)).map((response) => checkBody(t, response, 200, dbTestSchema))
  const integracaoIds = (await Promise.all(integracoes)).map((response) => integracaoResults(checkBody(t, response, 200, integracaoSchema)).acessoId)
  const answered = [
    ...bodies.map((body) => ({ id: body.acesso_id, endpoint: '/db/test' })),
    ...integracaoIds.map((id) => ({ id, endpoint: '/integracao' }))
  ].sort((a, b) => a.id - b.id)
  const { rows } = await observer.query('SELECT id, endpoint FROM acessos ORDER BY id')
  t.same(rows, answered, 'each answer names the row its endpoint inserted, in a group mixing both')
  const { rows: [stored] } = await observer.query<{ transactions: number }>('SELECT count(DISTINCT xmin::text)::int AS transactions FROM acessos')
  t.equal(stored!.transactions, 2, 'the insert held by the lock, then everything queued behind it as one group')
  t.equal(Math.max(...bodies.map((body) => body.total_acessos)), DB_TESTS + INTEGRACOES, 'the last group\'s total counts every row')
})

t.test('a group whose statement fails answers every request in it the documented 503, none an id, and the next total is exact', async (t) => {
  // The documented DEPENDENCY_TIMEOUT_MS is the statement timeout that fails the group.
  const { app, config } = await buildTestApp(t, DOCUMENTED_TIMEOUT)
  const before = await Promise.all(Array.from({ length: 5 }, () => app.inject('/db/test')))
  const highest = Math.max(...before.map((response) => checkBody(t, response, 200, dbTestSchema).total_acessos))
  const admin = await connectDatabase(t, config.DB_NAME)
  const observer = await connectDatabase(t, config.DB_NAME)
  const { dbTests, integracoes } = await burstBehindLock(app, admin, observer, config.DB_NAME)

  const dbAnswers = await Promise.all(dbTests)
  const integracaoAnswers = await Promise.all(integracoes)
  await admin.query('ROLLBACK')
  for (const response of dbAnswers) {
    t.same(checkBody(t, response, 503, dbTestSchema), { status: 'erro', erro: dependencyFailed.database })
  }
  for (const response of integracaoAnswers) {
    const body = checkBody(t, response, 503, integracaoSchema)
    t.same(body.operacoes[0], { servico: 'database', acao: 'inserir', status: 'erro', erro: dependencyFailed.database })
    t.match(body.operacoes[1], { servico: 'cache', status: 'sucesso' })
  }

  const next = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  t.equal(next.total_acessos, highest + 1, 'the failed group left no row behind')
  const { rows } = await observer.query('SELECT endpoint FROM acessos ORDER BY id')
  t.same(rows.map((row) => row.endpoint), Array(highest + 1).fill('/db/test'))
})
