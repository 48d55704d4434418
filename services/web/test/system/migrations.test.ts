import { cp, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import pg from 'pg'
import { dbTestSchema } from '../../src/routes/db.js'
import { buildAppOn, buildTestApp, checkBody, isolatedEnv, level } from '../helpers/app.js'
import { SERVICE_ROOT, startServer } from '../helpers/server.js'
import { connectDatabase } from '../helpers/services.js'
import { UNHURRIED } from '../helpers/timing.js'

// Not about the dependency timeout: replicas starting at once on a busy machine
// must not see a slow query as a failure.

const tables = async (client: pg.Client) => (await client.query(
  "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
)).rows.map((row) => row.table_name)

// Postgrator records a version 0 baseline of its own.
const versions = async (client: pg.Client) => (await client.query(
  'SELECT version FROM schemaversion WHERE version > 0 ORDER BY version'
)).rows.map((row) => Number(row.version))

t.test('on an empty database, creates acessos, its counter and the version table', async (t) => {
  const { config } = await buildTestApp(t)
  const client = await connectDatabase(t, config.DB_NAME)
  t.same(await tables(client), ['acessos', 'acessos_contagem', 'schemaversion'])
  t.same(await versions(client), [1, 2])
})

t.test('on the older service\'s database, keeps its rows and counts them', async (t) => {
  const env = { ...await isolatedEnv(t), ...UNHURRIED }
  const client = await connectDatabase(t, env.DB_NAME!)
  await client.query(`CREATE TABLE acessos (
    id SERIAL PRIMARY KEY,
    endpoint TEXT NOT NULL,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
  )`)
  await client.query("INSERT INTO acessos (endpoint) SELECT '/db/test' FROM generate_series(1, 25)")

  const { app } = await buildAppOn(t, env)
  const body = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  t.match(body, { acesso_id: 26, total_acessos: 26 })
  t.equal((await client.query('SELECT count(*)::int AS count FROM acessos')).rows[0].count, 26)
})

t.test('a second start applies nothing and keeps the data', async (t) => {
  const env = { ...await isolatedEnv(t), ...UNHURRIED }
  const first = await buildAppOn(t, env)
  checkBody(t, await first.app.inject('/db/test'), 200, dbTestSchema)
  await first.app.close()

  const second = await buildAppOn(t, env)
  t.notOk(second.logs.some((line) => line.msg === 'migration applied'), 'no migration runs again')
  t.match(checkBody(t, await second.app.inject('/db/test'), 200, dbTestSchema), { acesso_id: 2, total_acessos: 2 })
})

t.test('replicas starting at the same moment migrate once and all serve', async (t) => {
  const env = { ...await isolatedEnv(t), ...UNHURRIED }
  const replicas = await Promise.all(Array.from({ length: 6 }, async () => await buildAppOn(t, env)))
  const lines = replicas.flatMap(({ logs }) => logs)
  t.equal(lines.filter((line) => line.msg === 'migration applied').length, 2, 'each migration is applied by one replica')
  t.same(lines.filter((line) => (line.level as number) >= level.warn), [], 'no replica saw a failure')
  for (const { app } of replicas) checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  const client = await connectDatabase(t, env.DB_NAME!)
  t.same(await versions(client), [1, 2], 'each version is recorded once')
  t.equal((await client.query('SELECT sum(total)::int AS total FROM acessos_contagem')).rows[0].total, 6)
})

t.test('a build without its migrations/ folder refuses to start, and says what it lacks', async (t) => {
  const build = t.testdir()
  for (const file of ['package.json', 'dist']) await cp(join(SERVICE_ROOT, file), join(build, file), { recursive: true })
  await symlink(join(SERVICE_ROOT, 'node_modules'), join(build, 'node_modules'))
  await t.rejects(startServer(t, { ...await isolatedEnv(t), ...UNHURRIED }, build),
    /server exited with 1:[\s\S]*no migrations in \S+: this build lacks the migrations\/ folder/)
})
