import type { Socket } from 'node:net'
import Fastify from 'fastify'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import redisConnection from '../../src/plugins/external/redis.js'
import { isolatedEnv } from '../helpers/app.js'
import { UNHURRIED } from '../helpers/timing.js'

t.test('the commands sent in one turn leave in one write, each answered on its own', async (t) => {
  const config = loadConfig({ ...await isolatedEnv(t), ...UNHURRIED })
  // The plugin alone: nothing else writes on its connection.
  const app = Fastify({ logger: false })
  app.decorate('config', config)
  await app.register(redisConnection)
  await app.ready()
  t.teardown(async () => await app.close())
  const { client, send } = app.redisConnection
  t.equal(client.status, 'ready')

  // The chunks of each write the connection's socket makes.
  const writes: number[] = []
  const socket = client.stream as Socket & Required<Pick<Socket, '_writev'>>
  const [write, writev] = [socket._write.bind(socket), socket._writev.bind(socket)]
  socket._write = (chunk, encoding, done) => { writes.push(1); write(chunk, encoding, done) }
  socket._writev = (chunks, done) => { writes.push(chunks.length); writev(chunks, done) }

  const COMMANDS = 12
  const counts = await Promise.all(Array.from({ length: COMMANDS }, async () => await send(async () => await client.incr('turn-writes'))))
  t.same(writes, [COMMANDS], 'one write holding every command')
  t.same(counts, Array.from({ length: COMMANDS }, (_, i) => i + 1), 'each caller gets the reply to its own command, in order')
})
