import { join } from 'node:path'
import t from 'tap'
import { ConfigError, ConfigSchema, loadConfig } from '../../src/config.js'

t.test('defaults to the compose stack\'s hosts and the older service\'s names', async (t) => {
  t.match(loadConfig({}), {
    PORT: 5000,
    HOST: '0.0.0.0',
    DB_HOST: 'db',
    DB_PORT: 5432,
    DB_NAME: 'desafio3',
    DB_USER: 'postgres',
    DB_PASSWORD: undefined,
    REDIS_HOST: 'cache',
    REDIS_PORT: 6379,
    REDIS_DB: 0,
    REDIS_PASSWORD: undefined,
    DB_POOL_MAX: 10,
    DEPENDENCY_TIMEOUT_MS: 800,
    SHUTDOWN_DELAY_MS: 0,
    SHUTDOWN_TIMEOUT_MS: 10000,
    LOG_LEVEL: 'info'
  })
})

t.test('reads every setting from the environment, as numbers where numbers are meant', async (t) => {
  t.match(loadConfig({ PORT: '8080', DB_HOST: '127.0.0.1', DB_PORT: '6543', REDIS_DB: '3', LOG_LEVEL: 'warn' }), {
    PORT: 8080, DB_HOST: '127.0.0.1', DB_PORT: 6543, REDIS_DB: 3, LOG_LEVEL: 'warn'
  })
})

const rejects: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
  ['a port that is not a number', { PORT: 'abc' }, /PORT must be integer/],
  ['a port out of range', { DB_PORT: '70000' }, /DB_PORT must be <= 65535/],
  ['an empty host', { REDIS_HOST: '' }, /REDIS_HOST must NOT have fewer than 1 characters/],
  ['a Redis database past 15', { REDIS_DB: '16' }, /REDIS_DB must be <= 15/],
  ['an unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL must be equal to one of the allowed values \(fatal, error, warn, info, debug, trace, silent\)/]
]
for (const [what, env, message] of rejects) {
  t.test(`rejects ${what}, naming the variable and what it expected`, async (t) => {
    t.throws(() => loadConfig(env), { name: 'ConfigError', message })
  })
}

t.test('reads passwords from the files Docker secrets mount', async (t) => {
  const dir = t.testdir({ db: 's3cret-db\n', redis: 's3cret-redis' })
  const config = loadConfig({ DB_PASSWORD_FILE: join(dir, 'db'), REDIS_PASSWORD_FILE: join(dir, 'redis') })
  t.equal(config.DB_PASSWORD, 's3cret-db', 'the trailing newline of the file is not part of the password')
  t.equal(config.REDIS_PASSWORD, 's3cret-redis')
})

t.test('rejects a password file that cannot be read, naming the variable', async (t) => {
  t.throws(() => loadConfig({ DB_PASSWORD_FILE: '/nonexistent/db_password' }), {
    name: 'ConfigError', message: /DB_PASSWORD_FILE must name a readable file \(ENOENT: \/nonexistent\/db_password\)/
  })
})

t.test('rejects a password given both directly and as a file', async (t) => {
  t.throws(() => loadConfig({ REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: '/run/secrets/redis_password' }), new ConfigError(
    'invalid configuration: set REDIS_PASSWORD or REDIS_PASSWORD_FILE, not both'
  ))
})

t.test('SHUTDOWN_DELAY_MS defaults to 0 and takes any whole number of milliseconds from 0', async (t) => {
  t.equal(loadConfig({}).SHUTDOWN_DELAY_MS, 0)
  t.equal(loadConfig({ SHUTDOWN_DELAY_MS: '5000' }).SHUTDOWN_DELAY_MS, 5000)
  t.throws(() => loadConfig({ SHUTDOWN_DELAY_MS: '-1' }), { name: 'ConfigError', message: /SHUTDOWN_DELAY_MS must be >= 0/ })
})

t.test('every setting says what it means', async (t) => {
  for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
    t.match(schema.description, /^\S.{9,}$/, `${name} has a description`)
  }
})
