import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DependencyUnavailable } from '../errors/dependency-unavailable.js'
import { commonErrorResponses } from '../schemas/shared.js'
import { utcTimestamp } from '../time.js'

const Failed = <S extends string, A extends string>(servico: S, acao: A) => Type.Object({
  servico: Type.Literal(servico),
  acao: Type.Literal(acao),
  status: Type.Literal('erro'),
  erro: Type.String()
}, { additionalProperties: false })

const DatabaseOperation = Type.Union([
  Type.Object({
    servico: Type.Literal('database'),
    acao: Type.Literal('inserir'),
    status: Type.Literal('sucesso'),
    acesso_id: Type.Integer({ minimum: 1 })
  }, { additionalProperties: false }),
  Failed('database', 'inserir')
])

const CacheOperation = Type.Union([
  Type.Object({
    servico: Type.Literal('cache'),
    acao: Type.Literal('incrementar_contador'),
    status: Type.Literal('sucesso'),
    contador: Type.Integer({ minimum: 1 })
  }, { additionalProperties: false }),
  Failed('cache', 'incrementar_contador')
])

/** Answered with 200 when both operations succeed, 503 when either failed. */
const IntegracaoBody = Type.Object({
  status: Type.Union([Type.Literal('sucesso'), Type.Literal('erro')]),
  // Database first, cache second; not a Tuple, which fast-json-stringify cannot do with unions.
  operacoes: Type.Array(Type.Union([DatabaseOperation, CacheOperation]), { minItems: 2, maxItems: 2 })
}, { additionalProperties: false })

export const integracaoSchema = {
  summary: 'One insert into acessos and one increment of integracao_contador, each reported on its own',
  response: { 200: IntegracaoBody, 503: IntegracaoBody, ...commonErrorResponses }
}

/**
 * The `erro` of a failed operation, its cause logged. Only a dependency failure
 * is reported in the body; anything else is a bug, left to the error handler's 500.
 */
function reportFailure (reason: unknown, log: FastifyBaseLogger): string {
  if (!(reason instanceof DependencyUnavailable)) throw reason
  log.info({ err: reason.cause }, 'integration operation failed')
  return reason.message
}

// Each operation runs and reports on its own, so this route catches per
// operation instead of letting the error handler answer for the whole request.
const integracao: FastifyPluginAsyncTypebox = async (fastify) => {
  const { accesses, counters } = fastify

  fastify.get('/integracao', { schema: integracaoSchema }, async (request, reply) => {
    const [inserted, incremented] = await Promise.allSettled([
      accesses.record('/integracao'),
      counters.countIntegration(utcTimestamp())
    ])
    const databaseOperation = inserted.status === 'fulfilled'
      ? { servico: 'database' as const, acao: 'inserir' as const, status: 'sucesso' as const, acesso_id: inserted.value }
      : { servico: 'database' as const, acao: 'inserir' as const, status: 'erro' as const, erro: reportFailure(inserted.reason, request.log) }
    const cacheOperation = incremented.status === 'fulfilled'
      ? { servico: 'cache' as const, acao: 'incrementar_contador' as const, status: 'sucesso' as const, contador: incremented.value }
      : { servico: 'cache' as const, acao: 'incrementar_contador' as const, status: 'erro' as const, erro: reportFailure(incremented.reason, request.log) }

    const failed = inserted.status === 'rejected' || incremented.status === 'rejected'
    return await reply.code(failed ? 503 : 200).send({
      status: failed ? 'erro' : 'sucesso',
      operacoes: [databaseOperation, cacheOperation]
    })
  })
}

export default fp(integracao, { name: 'route-integracao', dependencies: ['errors', 'accesses', 'counters'], encapsulate: true })
