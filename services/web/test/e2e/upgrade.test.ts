import { fileURLToPath } from 'node:url'
import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { checkBody } from '../helpers/app.js'
import { fetchResponse } from '../helpers/server.js'
import { createStack, writeSecret } from './stack.js'

// Upgrade in place: the older Flask stack's volumes, under the same project
// name, are picked up by `make up` with no command but the password file.

const FLASK_STACK = fileURLToPath(new URL('fixtures/flask-stack.yaml', import.meta.url))
const PASSWORD = 'older-stack-pa55'
const OLD_ROWS = 5
const OLD_KEYS = {
  contador_acessos: '41',
  ultimo_acesso: '2025-11-19T21:30:00',
  integracao_contador: '7',
  integracao_timestamp: '2025-11-19T21:31:00'
}

const stack = await createStack(t, 'e2e-upgrade', { FLASK_DB_PASSWORD: PASSWORD })
const flask = async (...args: string[]) => await stack.compose('-f', FLASK_STACK, ...args)
const get = async (path: string) => await fetchResponse(`${stack.url}${path}`)

await t.test('the older stack leaves its rows and counters in its volumes', async (t) => {
  await flask('up', '-d', '--wait')
  await flask('exec', '-T', 'db', 'psql', '-v', 'ON_ERROR_STOP=1', '-U', 'postgres', '-d', 'desafio3', '-c',
    'CREATE TABLE acessos (id SERIAL PRIMARY KEY, endpoint TEXT NOT NULL, timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP);' +
    `INSERT INTO acessos (endpoint) SELECT '/db/test' FROM generate_series(1, ${OLD_ROWS});`)
  for (const [key, value] of Object.entries(OLD_KEYS)) await flask('exec', '-T', 'cache', 'redis-cli', 'SET', key, value)
  // A clean stop, as `docker compose down` of the older stack: Redis syncs its AOF.
  await flask('down')
  const volumes = (await stack.docker('volume', 'ls', '-q')).split('\n')
  t.ok(volumes.includes(`${stack.project}_db_data`) && volumes.includes(`${stack.project}_cache_data`), 'its volumes stay')
})

await t.test('without the password file, make up stops with one line and starts nothing', async (t) => {
  const result = await stack.make('up')
  t.not(result.code, 0, 'make up fails')
  const said = result.stderr.trim().split('\n').filter((line) => !/^make(\[\d+\])?: /.test(line))
  t.equal(said.length, 1, 'one line')
  t.match(said[0], new RegExp(`volume ${stack.project}_db_data already holds a PostgreSQL cluster.*db_password\\.txt.*make clean`))
  t.equal((await stack.compose('ps', '-q')).trim(), '', 'no container was created, none is restarting')
})

await t.test('with the older password in the secret file, make up continues the data', async (t) => {
  await writeSecret(stack, 'db_password', PASSWORD)
  const up = await stack.make('up')
  t.equal(up.code, 0, `make up: ${up.stderr.slice(-2000)}`)
  t.match(checkBody(t, await get('/db/test'), 200, dbTestSchema), { acesso_id: OLD_ROWS + 1, total_acessos: OLD_ROWS + 1 })
  t.match(checkBody(t, await get('/cache/test'), 200, cacheTestSchema), { contador: Number(OLD_KEYS.contador_acessos) + 1 })
  const integracao = checkBody(t, await get('/integracao'), 200, integracaoSchema)
  t.match(integracao.operacoes, [
    { servico: 'database', acesso_id: OLD_ROWS + 2 },
    { servico: 'cache', contador: Number(OLD_KEYS.integracao_contador) + 1 }
  ])
  const status = checkBody(t, await get('/'), 200, statusSchema)
  t.match(status.servicos, { database: { status: 'conectado' }, cache: { status: 'conectado' } })
})

await t.test('rolling back: the older stack still works on the same volumes', async (t) => {
  t.equal((await stack.make('down')).code, 0, 'make down')
  await flask('up', '-d', '--wait')
  const count = await flask('exec', '-T', 'db', 'psql', '-U', 'postgres', '-d', 'desafio3', '-tAc', 'SELECT count(*) FROM acessos')
  t.equal(Number(count.trim()), OLD_ROWS + 2, 'its table has the rows the new stack added')
  const counter = await flask('exec', '-T', 'cache', 'redis-cli', 'GET', 'contador_acessos')
  t.equal(counter.trim(), String(Number(OLD_KEYS.contador_acessos) + 1), 'its Redis reads the new counter without a password')
  await flask('down')
})
