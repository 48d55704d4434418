import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses, ErrorBody, Timestamp } from '../schemas/shared.js'
import { utcTimestamp } from '../time.js'

const CacheTestBody = Type.Object({
  status: Type.Literal('sucesso'),
  contador: Type.Integer({ minimum: 1 }),
  ultimo_acesso: Timestamp,
  mensagem: Type.Literal('Cache funcionando corretamente')
}, { additionalProperties: false })

export const cacheTestSchema = {
  summary: 'Increments contador_acessos and stores this request\'s timestamp in ultimo_acesso',
  response: { 200: CacheTestBody, 503: ErrorBody, ...commonErrorResponses }
}

const cache: FastifyPluginAsyncTypebox = async (fastify) => {
  const { counters } = fastify

  fastify.get('/cache/test', { schema: cacheTestSchema }, async () => {
    const ultimoAcesso = utcTimestamp()
    return {
      status: 'sucesso' as const,
      contador: await counters.countAccess(ultimoAcesso),
      ultimo_acesso: ultimoAcesso,
      mensagem: 'Cache funcionando corretamente' as const
    }
  })
}

export default fp(cache, { name: 'route-cache-test', dependencies: ['errors', 'counters'], encapsulate: true })
