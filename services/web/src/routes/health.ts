import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses } from '../schemas/shared.js'

const Healthy = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false })

const Dependency = Type.Union([Type.Literal('database'), Type.Literal('migrations'), Type.Literal('cache')])

/** The contract's error shape, plus what is not ready. */
const NotReady = Type.Object({
  status: Type.Literal('erro'),
  erro: Type.Literal('Serviço não está pronto'),
  falhas: Type.Array(Dependency, { minItems: 1 })
}, { additionalProperties: false })

export const liveSchema = {
  summary: 'The process answers (liveness)',
  response: { 200: Healthy, ...commonErrorResponses }
}

export const readySchema = {
  summary: 'PostgreSQL and Redis answer and migrations are applied (readiness)',
  response: { 200: Healthy, 503: NotReady, ...commonErrorResponses }
}

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const { database, cache } = fastify

  fastify.get('/health/live', { schema: liveSchema, exposeHeadRoute: true }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', { schema: readySchema, exposeHeadRoute: true }, async (_request, reply) => {
    const [databasePing, cachePing] = await Promise.allSettled([database.ping(), cache.ping()])
    const falhas: Array<'database' | 'migrations' | 'cache'> = []
    if (databasePing.status === 'rejected') falhas.push('database')
    else if (!database.schemaReady) falhas.push('migrations')
    if (cachePing.status === 'rejected') falhas.push('cache')
    if (falhas.length === 0) return { status: 'ok' as const }
    return await reply.code(503).send({ status: 'erro', erro: 'Serviço não está pronto', falhas })
  })
}

export default health
