import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses, messages, Timestamp } from '../schemas/shared.js'
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

export const StatusBody = Type.Object({
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

const status: FastifyPluginAsyncTypebox = async (fastify) => {
  const { config, database, cache } = fastify
  const databaseAddress = { host: config.DB_HOST, port: String(config.DB_PORT) }
  const cacheAddress = { host: config.REDIS_HOST, port: String(config.REDIS_PORT) }

  const report = (ping: PromiseSettledResult<void>, address: typeof databaseAddress, erro: string) =>
    ping.status === 'fulfilled'
      ? { status: 'conectado' as const, ...address }
      : { status: 'desconectado' as const, ...address, erro }

  fastify.get('/', { schema: statusSchema, exposeHeadRoute: true }, async () => {
    const [databasePing, cachePing] = await Promise.allSettled([database.ping(), cache.ping()])
    return {
      servico: 'web' as const,
      status: 'online' as const,
      timestamp: utcTimestamp(),
      servicos: {
        database: report(databasePing, databaseAddress, messages.postgres),
        cache: report(cachePing, cacheAddress, messages.redis)
      }
    }
  })
}

export default status
