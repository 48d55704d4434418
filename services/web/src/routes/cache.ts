import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses, ErrorBody, errorBody, messages, Timestamp } from '../schemas/shared.js'
import { utcTimestamp } from '../time.js'

export const CacheTestBody = Type.Object({
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
  fastify.get('/cache/test', { schema: cacheTestSchema }, async (request, reply) => {
    const ultimoAcesso = utcTimestamp()
    try {
      const contador = await fastify.cache.increment('contador_acessos', 'ultimo_acesso', ultimoAcesso)
      return {
        status: 'sucesso' as const,
        contador,
        ultimo_acesso: ultimoAcesso,
        mensagem: 'Cache funcionando corretamente' as const
      }
    } catch (err) {
      request.log.info({ err }, 'Redis request failed')
      return await reply.code(503).send(errorBody(messages.redis))
    }
  })
}

export default cache
