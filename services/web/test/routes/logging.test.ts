import t from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { freePort } from '../helpers/server.js'

t.test('a sane x-request-id is reused, echoed and on every line of the request', async (t) => {
  const { app, logs } = await buildTestApp(t)
  const response = await app.inject({ url: '/db/test', headers: { 'x-request-id': 'edge-42.abc' } })
  t.equal(response.headers['x-request-id'], 'edge-42.abc')
  const lines = logs.filter((line) => line.reqId === 'edge-42.abc')
  t.ok(lines.some((line) => line.msg === 'request completed'))
})

t.test('an unsafe x-request-id is replaced by a generated one', async (t) => {
  const { app } = await buildTestApp(t)
  for (const unsafe of ['two words', 'x'.repeat(200), '<script>', '']) {
    const response = await app.inject({ url: '/', headers: { 'x-request-id': unsafe } })
    t.match(response.headers['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, JSON.stringify(unsafe).slice(0, 20))
  }
})

t.test('the error behind a 503 is logged with the request id, never sent', async (t) => {
  const { app, logs } = await buildTestApp(t, { DB_PORT: String(await freePort()) })
  const response = await app.inject({ url: '/db/test', headers: { 'x-request-id': 'failing-1' } })
  t.same(response.json(), { status: 'erro', erro: 'Não foi possível conectar ao banco de dados' })
  const failure = logs.find((line) => line.reqId === 'failing-1' && line.err !== undefined)
  t.match(failure, { level: 30, err: { type: 'Error', message: String } })
})

t.test('passwords and credentials never reach the log', async (t) => {
  const password = 'pa55-never-logged'
  // PostgreSQL refuses the connection (a closed port), so the password travels
  // through the driver and its errors, yet must not be written anywhere.
  const { app, logs } = await buildTestApp(t, { DB_PORT: String(await freePort()), DB_PASSWORD_FILE: undefined, DB_PASSWORD: password, LOG_LEVEL: 'trace' })
  await app.inject({ url: '/db/test', headers: { authorization: `Bearer ${password}`, cookie: `session=${password}` } })
  await app.inject('/')
  await app.inject({ url: '/nowhere', headers: { authorization: `Basic ${password}` } })
  t.ok(logs.length > 5, 'the requests were logged')
  t.notMatch(JSON.stringify(logs), password)
})

t.test('credentials handed to the logger by mistake are censored', async (t) => {
  // Nothing logs headers or the settings today; this keeps the redaction paths
  // honest for the day someone does.
  const { app, logs } = await buildTestApp(t, { DB_PASSWORD_FILE: undefined, DB_PASSWORD: 'pa55-in-config' })
  app.log.info({ req: { headers: { authorization: 'Bearer tok3n', cookie: 'session=c00kie' } }, config: app.config }, 'oops')
  const line = JSON.stringify(logs.find((entry) => entry.msg === 'oops'))
  for (const secret of ['tok3n', 'c00kie', 'pa55-in-config']) t.notMatch(line, secret, `${secret} is censored`)
  t.match(line, /\[Redacted\]/)
})
