import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses, ErrorBody, errorBody, messages } from '../schemas/shared.js'

export const DbTestBody = Type.Object({
  status: Type.Literal('sucesso'),
  acesso_id: Type.Integer({ minimum: 1 }),
  total_acessos: Type.Integer({ minimum: 1 }),
  mensagem: Type.Literal('Dados inseridos e consultados com sucesso')
}, { additionalProperties: false })

export const dbTestSchema = {
  summary: 'Inserts one row into acessos and returns its id and the exact row count',
  response: { 200: DbTestBody, 503: ErrorBody, ...commonErrorResponses }
}

const db: FastifyPluginAsyncTypebox = async (fastify) => {
  const { database } = fastify

  fastify.get('/db/test', { schema: dbTestSchema }, async (request, reply) => {
    try {
      const acessoId = await database.recordAccess('/db/test')
      // Counted after the insert committed, so that after any burst the next
      // call's total is exactly the highest total returned so far plus one.
      const totalAcessos = await database.countAccesses()
      return {
        status: 'sucesso' as const,
        acesso_id: acessoId,
        total_acessos: totalAcessos,
        mensagem: 'Dados inseridos e consultados com sucesso' as const
      }
    } catch (err) {
      request.log.info({ err }, 'PostgreSQL request failed')
      return await reply.code(503).send(errorBody(messages.database))
    }
  })
}

export default db
