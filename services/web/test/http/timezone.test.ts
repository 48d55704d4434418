import t from 'tap'
import { statusSchema } from '../../src/routes/status.js'
import { cacheTestSchema } from '../../src/routes/cache.js'
import { integracaoSchema } from '../../src/routes/integracao.js'
import { checkBody, isolatedEnv } from '../helpers/app.js'
import { fetchResponse, startServer } from '../helpers/server.js'
import { UNHURRIED } from '../helpers/timing.js'
import { connectRedis } from '../helpers/services.js'

// This machine runs in UTC, where local time and UTC look the same: only a
// service in another zone shows whether it stamps in UTC. São Paulo is 3 h behind.
const ZONE = 'America/Sao_Paulo'

const utcNow = () => new Date().toISOString().slice(0, 19)

t.test(`a service running in ${ZONE} still stamps every contract timestamp in UTC`, async (t) => {
  const env = await isolatedEnv(t)
  const server = await startServer(t, { ...env, ...UNHURRIED, TZ: ZONE })
  const redis = connectRedis(t, Number(env.REDIS_DB))
  const before = utcNow()
  const status = checkBody(t, await fetchResponse(`${server.url}/`), 200, statusSchema)
  const cache = checkBody(t, await fetchResponse(`${server.url}/cache/test`), 200, cacheTestSchema)
  checkBody(t, await fetchResponse(`${server.url}/integracao`), 200, integracaoSchema)
  const after = utcNow()

  const stamps = {
    'GET / timestamp': status.timestamp,
    '/cache/test ultimo_acesso': cache.ultimo_acesso,
    'ultimo_acesso in Redis': await redis.get('ultimo_acesso'),
    'integracao_timestamp in Redis': await redis.get('integracao_timestamp')
  }
  for (const [what, stamp] of Object.entries(stamps)) {
    t.ok(stamp !== null && stamp >= before && stamp <= after, `${what}: ${String(stamp)} is between ${before} and ${after} (UTC)`)
  }
})
