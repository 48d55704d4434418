import t from 'tap'
import Fastify, { type FastifyPluginAsync } from 'fastify'
import { loadConfig } from '../../src/config.js'
import { RequestLog } from '../../src/logging/request-log.js'
import errors from '../../src/plugins/app/errors.js'
import accesses from '../../src/repositories/accesses.js'
import counters from '../../src/repositories/counters.js'
import drain from '../../src/plugins/app/drain.js'
import metrics from '../../src/plugins/app/metrics.js'
import docs from '../../src/plugins/app/docs.js'
import postgresPool from '../../src/plugins/external/postgres.js'
import redisConnection from '../../src/plugins/external/redis.js'
import migrations from '../../src/plugins/external/migrations.js'
import health from '../../src/routes/health.js'
import status from '../../src/routes/status.js'
import db from '../../src/routes/db.js'
import cache from '../../src/routes/cache.js'
import integracao from '../../src/routes/integracao.js'

// No plugin here gets as far as connecting: each one fails on what it names
// before its body runs, which is the point.
async function registerAlone (plugin: FastifyPluginAsync, { withConfig = true } = {}) {
  const app = Fastify({ logger: false })
  if (withConfig) app.decorate('config', loadConfig({}))
  app.register(plugin)
  try {
    await app.ready()
  } finally {
    await app.close()
  }
}

const needs: Array<[string, FastifyPluginAsync, string]> = [
  ['the route of /', status, "The dependency 'errors' of plugin 'route-status' is not registered"],
  ['the route of /db/test', db, "The dependency 'errors' of plugin 'route-db-test' is not registered"],
  ['the route of /cache/test', cache, "The dependency 'errors' of plugin 'route-cache-test' is not registered"],
  ['the route of /integracao', integracao, "The dependency 'errors' of plugin 'route-integracao' is not registered"],
  ['the health routes', health, "The dependency 'errors' of plugin 'route-health' is not registered"],
  ['the accesses repository', accesses, "The dependency 'errors' of plugin 'accesses' is not registered"],
  ['the counters repository', counters, "The dependency 'errors' of plugin 'counters' is not registered"],
  // Given the request log it feeds, as app.ts does.
  ['the metrics', async (app) => { await app.register(metrics, { requestLog: new RequestLog() }) }, "The dependency 'errors' of plugin 'metrics' is not registered"],
  ['the docs', docs, "The dependency 'errors' of plugin 'docs' is not registered"],
  ['the migrations', migrations, "The dependency 'postgres-pool' of plugin 'migrations' is not registered"]
]

for (const [what, plugin, message] of needs) {
  t.test(`${what}, registered before what it needs, fails at boot naming it`, async (t) => {
    await t.rejects(registerAlone(plugin), { code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED', message })
  })
}

t.test('past errors, a route names the repository it needs', async (t) => {
  const app = Fastify({ logger: false })
  app.register(errors)
  app.register(db)
  await t.rejects(async () => await app.ready(), { message: "The dependency 'accesses' of plugin 'route-db-test' is not registered" })
  await app.close()
})

for (const [name, plugin] of [['postgres-pool', postgresPool], ['redis-connection', redisConnection], ['drain', drain]] as const) {
  t.test(`${name} without the config fails at boot naming it`, async (t) => {
    await t.rejects(registerAlone(plugin, { withConfig: false }), { code: 'FST_ERR_PLUGIN_NOT_PRESENT_IN_INSTANCE', message: `The decorator 'config' required by '${name}' is not present in Fastify` })
  })
}
