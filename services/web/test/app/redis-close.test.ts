import { once } from 'node:events'
import Fastify from 'fastify'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import redisConnection from '../../src/plugins/external/redis.js'
import { isolatedEnv } from '../helpers/app.js'
import { startProxy } from '../helpers/proxy.js'
import { services } from '../helpers/services.js'
import { UNHURRIED } from '../helpers/timing.js'

t.test('closing the Redis connection resolves once Redis has ended the connection, not once QUIT is answered, so Redis no longer lists the client', async (t) => {
  const proxy = await startProxy(t, services.redis)
  const config = loadConfig({ ...await isolatedEnv(t), ...UNHURRIED, REDIS_PORT: String(proxy.port) })
  // The plugin alone, so that nothing else holds close() up.
  const app = Fastify({ logger: false })
  app.decorate('config', config)
  await app.register(redisConnection)
  await app.ready()
  const { client } = app.redisConnection
  t.equal(client.status, 'ready')

  // Redis answers QUIT and closes its side; that close reaches the client only on release().
  const end = proxy.holdEnds()
  let closed = false
  const closing = app.close().then(() => { closed = true })
  await once(client.stream, 'data')
  await end.serviceClosed
  // Whatever waited only for QUIT's answer has resolved by the next turn: promises and ticks, no I/O.
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(closed, 'not closed while the connection\'s end has not arrived')
  t.equal(client.status, 'ready', 'the connection is still open')

  end.release()
  await closing
  t.equal(client.status, 'end', 'closed once the connection has ended')
})
