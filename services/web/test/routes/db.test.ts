import t from 'tap'
import { dbTestSchema } from '../../src/routes/db.js'
import { buildAppOn, buildTestApp, checkBody, isolatedEnv } from '../helpers/app.js'
import { connectDatabase } from '../helpers/services.js'

t.test('the first call inserts row 1 and counts one row', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject('/db/test')
  const body = checkBody(t, response, 200, dbTestSchema)
  t.same(body, { status: 'sucesso', acesso_id: 1, total_acessos: 1, mensagem: 'Dados inseridos e consultados com sucesso' })
})

t.test('each call inserts one /db/test row with a later id and a total one higher', async (t) => {
  const { app, config } = await buildTestApp(t)
  const first = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  const second = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  t.ok(second.acesso_id > first.acesso_id)
  t.equal(second.total_acessos, first.total_acessos + 1)

  const client = await connectDatabase(t, config.DB_NAME)
  const { rows } = await client.query('SELECT id, endpoint FROM acessos ORDER BY id')
  t.same(rows.map((row) => [row.id, row.endpoint]), [[first.acesso_id, '/db/test'], [second.acesso_id, '/db/test']])
})

t.test('rows are stamped in UTC, even on a database whose own time zone is not', async (t) => {
  // This machine runs in UTC: only a database set to another zone shows whether
  // the service's sessions set their own.
  const env = await isolatedEnv(t)
  const client = await connectDatabase(t, env.DB_NAME!)
  await client.query(`ALTER DATABASE ${env.DB_NAME!} SET timezone = 'America/Sao_Paulo'`)
  const { app } = await buildAppOn(t, env)
  checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  const { rows } = await client.query(
    "SELECT abs(extract(epoch FROM timestamp - (now() AT TIME ZONE 'UTC'))) AS seconds_off FROM acessos"
  )
  t.ok(Number(rows[0].seconds_off) < 60, `stamped ${rows[0].seconds_off} s away from UTC now`)
})

t.test('the response is marked not cacheable', async (t) => {
  const { app } = await buildTestApp(t)
  const response = await app.inject('/db/test')
  t.equal(response.headers['cache-control'], 'no-store')
})

t.test('a burst of concurrent calls gets distinct ids, and the next call counts exactly one more than the highest total', async (t) => {
  const { app, config } = await buildTestApp(t)
  const burst = await Promise.all(Array.from({ length: 150 }, () => app.inject('/db/test')))
  const bodies = burst.map((response) => checkBody(t, response, 200, dbTestSchema))
  t.equal(new Set(bodies.map((body) => body.acesso_id)).size, 150, 'ids are distinct')
  const highest = Math.max(...bodies.map((body) => body.total_acessos))
  t.equal(highest, 150, 'the highest total counts every row of the burst')

  const next = checkBody(t, await app.inject('/db/test'), 200, dbTestSchema)
  t.equal(next.total_acessos, highest + 1)
  const client = await connectDatabase(t, config.DB_NAME)
  const { rows } = await client.query('SELECT count(*)::int AS count FROM acessos')
  t.equal(rows[0].count, next.total_acessos, 'the total is the real number of rows')
})

t.test('the total stays exact when rows are inserted, deleted or truncated behind the service', async (t) => {
  const { app, config } = await buildTestApp(t)
  const client = await connectDatabase(t, config.DB_NAME)
  await client.query("INSERT INTO acessos (endpoint) SELECT '/elsewhere' FROM generate_series(1, 40)")
  await client.query('DELETE FROM acessos WHERE id <= 5')
  t.equal(checkBody(t, await app.inject('/db/test'), 200, dbTestSchema).total_acessos, 36)
  await client.query('TRUNCATE acessos')
  t.equal(checkBody(t, await app.inject('/db/test'), 200, dbTestSchema).total_acessos, 1)
})

t.test('HEAD never writes: it is not a route of /db/test', async (t) => {
  const { app, config } = await buildTestApp(t)
  const response = await app.inject({ method: 'HEAD', url: '/db/test' })
  t.equal(response.statusCode, 404)
  const client = await connectDatabase(t, config.DB_NAME)
  const { rows } = await client.query('SELECT count(*)::int AS count FROM acessos')
  t.equal(rows[0].count, 0)
})
