import type { BodyOf } from './app.js'
import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { liveSchema, readySchema } from '../../src/routes/health.js'

/** The four endpoints of the contract, each with its route's own schema. */
export const endpoints = [
  { url: '/', schema: statusSchema },
  { url: '/db/test', schema: dbTestSchema },
  { url: '/cache/test', schema: cacheTestSchema },
  { url: '/integracao', schema: integracaoSchema }
] as const

/** The probes of the operations endpoints that are documented in /openapi.json. */
export const probes = [
  { url: '/health/live', schema: liveSchema },
  { url: '/health/ready', schema: readySchema }
] as const

/** The id and the count a successful /integracao reported; throws when either operation failed. */
export function integracaoResults (body: BodyOf<typeof integracaoSchema, 200>): { acessoId: number, contador: number } {
  const [database, cache] = body.operacoes
  if (database?.servico !== 'database' || database.status !== 'sucesso' || cache?.servico !== 'cache' || cache.status !== 'sucesso') {
    throw new Error(`/integracao did not succeed: ${JSON.stringify(body)}`)
  }
  return { acessoId: database.acesso_id, contador: cache.contador }
}
