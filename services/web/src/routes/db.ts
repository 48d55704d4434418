import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { commonErrorResponses, ErrorBody } from '../schemas/shared.js'

const DbTestBody = Type.Object({
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
  const { accesses } = fastify

  fastify.get('/db/test', { schema: dbTestSchema }, async () => {
    // The total is read after the insert committed, so that after any burst the
    // next call's total is exactly the highest total returned so far plus one.
    const { id, total } = await accesses.recordAndCount('/db/test')
    return {
      status: 'sucesso' as const,
      acesso_id: id,
      total_acessos: total,
      mensagem: 'Dados inseridos e consultados com sucesso' as const
    }
  })
}

export default fp(db, { name: 'route-db-test', dependencies: ['errors', 'accesses'], encapsulate: true })
