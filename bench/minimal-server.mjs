// The comparison point for the benchmark, not part of the product: a bare
// node:http server doing, per request, the database and cache work the contract
// asks for the straightforward way (an insert and a count, a MULTI, a SELECT 1
// and a PING), with the same drivers and the same driver options. The ratio is
// the net of the service's own layer (Fastify, hooks, response schemas, request
// logging, metrics), which costs, and of the work it shares across the requests
// of an event-loop turn (grouped inserts, shared pings, one script per counter),
// which saves (docs/performance.md).
//
// Configured by the same environment variables as the service.
import http from 'node:http'
import pg from 'pg'
import { Redis } from 'ioredis'

const env = process.env
const TIMEOUT_MS = 800 // the service's DEPENDENCY_TIMEOUT_MS default

// Same options as services/web/src/plugins/external/postgres.ts, so both sides pay the
// same driver-side cost per query.
const pool = new pg.Pool({
  host: env.DB_HOST ?? '127.0.0.1',
  port: Number(env.DB_PORT ?? 5432),
  database: env.DB_NAME,
  user: env.DB_USER ?? 'postgres',
  password: env.DB_PASSWORD,
  connectionTimeoutMillis: TIMEOUT_MS,
  keepAlive: true,
  options: '-c timezone=UTC',
  application_name: 'bench-minimal',
  max: Number(env.DB_POOL_MAX ?? 10),
  query_timeout: TIMEOUT_MS,
  statement_timeout: TIMEOUT_MS
})
pool.on('error', () => {}) // an idle client dropped by the server must not crash the process

// Same options as services/web/src/plugins/external/redis.ts.
const redis = new Redis({
  host: env.REDIS_HOST ?? '127.0.0.1',
  port: Number(env.REDIS_PORT ?? 6379),
  db: Number(env.REDIS_DB ?? 0),
  password: env.REDIS_PASSWORD,
  connectionName: 'bench-minimal',
  connectTimeout: TIMEOUT_MS,
  commandTimeout: TIMEOUT_MS,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  enableAutoPipelining: true
})
redis.on('error', () => {})

const dbAddress = { host: env.DB_HOST ?? '127.0.0.1', port: String(env.DB_PORT ?? 5432) }
const cacheAddress = { host: env.REDIS_HOST ?? '127.0.0.1', port: String(env.REDIS_PORT ?? 6379) }

const utcTimestamp = () => new Date().toISOString().slice(0, 19)

async function recordAccess (endpoint) {
  const { rows } = await pool.query({
    name: 'record-access',
    text: 'INSERT INTO acessos (endpoint) VALUES ($1) RETURNING id',
    values: [endpoint]
  })
  return rows[0].id
}

async function countAccesses () {
  const { rows } = await pool.query({
    name: 'count-accesses',
    text: 'SELECT sum(total)::bigint AS total FROM acessos_contagem'
  })
  return Number(rows[0].total)
}

async function increment (counterKey, timestampKey, at) {
  const [[incrError, counter], [setError]] = await redis.multi().incr(counterKey).set(timestampKey, at).exec()
  if (incrError || setError) throw incrError ?? setError
  return counter
}

const routes = {
  async '/' () {
    const [database, cache] = await Promise.allSettled([pool.query('SELECT 1'), redis.ping()])
    return [200, {
      servico: 'web',
      status: 'online',
      timestamp: utcTimestamp(),
      servicos: {
        database: database.status === 'fulfilled' ? { status: 'conectado', ...dbAddress } : { status: 'desconectado', ...dbAddress, erro: 'Não foi possível conectar ao PostgreSQL' },
        cache: cache.status === 'fulfilled' ? { status: 'conectado', ...cacheAddress } : { status: 'desconectado', ...cacheAddress, erro: 'Não foi possível conectar ao Redis' }
      }
    }]
  },

  async '/db/test' () {
    try {
      const acessoId = await recordAccess('/db/test')
      const totalAcessos = await countAccesses()
      return [200, { status: 'sucesso', acesso_id: acessoId, total_acessos: totalAcessos, mensagem: 'Dados inseridos e consultados com sucesso' }]
    } catch {
      return [503, { status: 'erro', erro: 'Não foi possível conectar ao banco de dados' }]
    }
  },

  async '/cache/test' () {
    const ultimoAcesso = utcTimestamp()
    try {
      const contador = await increment('contador_acessos', 'ultimo_acesso', ultimoAcesso)
      return [200, { status: 'sucesso', contador, ultimo_acesso: ultimoAcesso, mensagem: 'Cache funcionando corretamente' }]
    } catch {
      return [503, { status: 'erro', erro: 'Não foi possível conectar ao Redis' }]
    }
  },

  async '/integracao' () {
    const [inserted, incremented] = await Promise.allSettled([
      recordAccess('/integracao'),
      increment('integracao_contador', 'integracao_timestamp', utcTimestamp())
    ])
    const failed = inserted.status === 'rejected' || incremented.status === 'rejected'
    return [failed ? 503 : 200, {
      status: failed ? 'erro' : 'sucesso',
      operacoes: [
        inserted.status === 'fulfilled'
          ? { servico: 'database', acao: 'inserir', status: 'sucesso', acesso_id: inserted.value }
          : { servico: 'database', acao: 'inserir', status: 'erro', erro: 'Não foi possível conectar ao banco de dados' },
        incremented.status === 'fulfilled'
          ? { servico: 'cache', acao: 'incrementar_contador', status: 'sucesso', contador: incremented.value }
          : { servico: 'cache', acao: 'incrementar_contador', status: 'erro', erro: 'Não foi possível conectar ao Redis' }
      ]
    }]
  }
}

function send (res, statusCode, body) {
  const json = JSON.stringify(body)
  res.writeHead(statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json)
  })
  res.end(json)
}

const server = http.createServer((req, res) => {
  const route = req.method === 'GET' ? routes[req.url] : undefined
  if (route === undefined) return send(res, 404, { status: 'erro', erro: 'Rota não encontrada' })
  route().then(
    ([statusCode, body]) => send(res, statusCode, body),
    () => send(res, 500, { status: 'erro', erro: 'Erro interno' })
  )
})

let closing = false
async function shutdown () {
  if (closing) return
  closing = true
  server.closeAllConnections()
  server.close()
  await Promise.allSettled([pool.end(), redis.quit()])
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
// Started by bench.mjs with an IPC channel: if the orchestrator dies, so do we.
process.on('disconnect', shutdown)

server.listen(Number(env.PORT), env.HOST ?? '127.0.0.1')
