import { statusSchema } from '../../src/routes/status.js'
import { dbTestSchema } from '../../src/routes/db.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'

/** The four endpoints of the contract, each with its route's own schema. */
export const endpoints = [
  { url: '/', schema: statusSchema },
  { url: '/db/test', schema: dbTestSchema },
  { url: '/cache/test', schema: cacheTestSchema },
  { url: '/integracao', schema: integracaoSchema }
] as const
