import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { statusPingFailed } from '../messages.js'
import { commonErrorResponses, Timestamp } from '../schemas/shared.js'
import { utcTimestamp } from '../time.js'

const Connected = Type.Object({
  status: Type.Literal('conectado'),
  host: Type.String(),
  port: Type.String()
}, { additionalProperties: false })

const Disconnected = Type.Object({
  status: Type.Literal('desconectado'),
  host: Type.String(),
  port: Type.String(),
  erro: Type.String()
}, { additionalProperties: false })

const DependencyStatus = Type.Union([Connected, Disconnected])

const StatusBody = Type.Object({
  servico: Type.Literal('web'),
  status: Type.Literal('online'),
  timestamp: Timestamp,
  servicos: Type.Object({
    database: DependencyStatus,
    cache: DependencyStatus
  }, { additionalProperties: false })
}, { additionalProperties: false })

export const statusSchema = {
  summary: 'Status of the web service and a live round trip to each dependency',
  response: { 200: StatusBody, ...commonErrorResponses }
}

const report = (ping: PromiseSettledResult<void>, address: { host: string, port: string }, erro: string) =>
  ping.status === 'fulfilled'
    ? { status: 'conectado' as const, ...address }
    : { status: 'desconectado' as const, ...address, erro }

const status: FastifyPluginAsyncTypebox = async (fastify) => {
  const { postgresPool, redisConnection } = fastify

  fastify.get('/', { schema: statusSchema, exposeHeadRoute: true }, async () => {
    const [databasePing, cachePing] = await Promise.allSettled([postgresPool.ping(), redisConnection.ping()])
    return {
      servico: 'web' as const,
      status: 'online' as const,
      timestamp: utcTimestamp(),
      servicos: {
        database: report(databasePing, postgresPool.address, statusPingFailed.database),
        cache: report(cachePing, redisConnection.address, statusPingFailed.cache)
      }
    }
  })
}

export default fp(status, { name: 'route-status', dependencies: ['errors', 'postgres-pool', 'redis-connection'], encapsulate: true })
