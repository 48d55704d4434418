import fp from 'fastify-plugin'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notReady } from '../messages.js'
import { commonErrorResponses } from '../schemas/shared.js'

const Healthy = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false })

const Missing = Type.Union([
  Type.Literal('database'),
  Type.Literal('migrations'),
  Type.Literal('cache'),
  Type.Literal('encerrando')
])

/** The contract's error shape, plus what is not ready. */
const NotReady = Type.Object({
  status: Type.Literal('erro'),
  erro: Type.Literal(notReady),
  falhas: Type.Array(Missing, { minItems: 1 })
}, { additionalProperties: false })

export const liveSchema = {
  summary: 'The process answers (liveness)',
  response: { 200: Healthy, ...commonErrorResponses }
}

export const readySchema = {
  summary: 'PostgreSQL and Redis answer, migrations are applied and the service is not shutting down (readiness)',
  response: { 200: Healthy, 503: NotReady, ...commonErrorResponses }
}

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const { postgresPool, redisConnection, migrations, drain } = fastify

  fastify.get('/health/live', { schema: liveSchema, exposeHeadRoute: true }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', { schema: readySchema, exposeHeadRoute: true }, async (_request, reply) => {
    const [databasePing, cachePing] = await Promise.allSettled([postgresPool.ping(), redisConnection.ping()])
    const falhas: Array<Static<typeof Missing>> = []
    if (databasePing.status === 'rejected') falhas.push('database')
    else if (!migrations.applied) falhas.push('migrations')
    if (cachePing.status === 'rejected') falhas.push('cache')
    if (drain.active) falhas.push('encerrando')
    if (falhas.length === 0) return { status: 'ok' as const }
    return await reply.code(503).send({ status: 'erro', erro: notReady, falhas })
  })
}

export default fp(health, {
  name: 'route-health',
  dependencies: ['errors', 'postgres-pool', 'redis-connection', 'migrations', 'drain'],
  encapsulate: true
})
