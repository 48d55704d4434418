// The run's settings, from the environment (see ../README.md).
const env = process.env

function positiveInt (name, fallback) {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`)
  return value
}

export const settings = {
  duration: positiveInt('DURATION', 3), // seconds measured per endpoint, server, round and connection count
  rounds: positiveInt('ROUNDS', 3), // interleaved rounds; the median one counts
  warmup: positiveInt('WARMUP', 2), // seconds of load thrown away first, so the JIT and pools are warm
  connections: positiveInt('CONNECTIONS', 32),
  growthRows: positiveInt('GROWTH_ROWS', 1_000_000),
  startupRuns: positiveInt('STARTUP_RUNS', 3),
  poolMax: positiveInt('DB_POOL_MAX', 10), // both servers' pool size
  endpoints: (env.ENDPOINTS ?? '/,/db/test,/cache/test,/integracao').split(',').filter(Boolean),
  // Extra node flags for the service under load only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  serviceNodeArgs: (env.SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
  // Where the service's log goes; a file costs disk writes the numbers should not include.
  serviceLog: env.SERVICE_LOG || '/dev/null',
  // The service to measure: another build (a scratch copy with an experiment) can be pointed at.
  serviceDir: env.SERVICE_DIR || new URL('../../services/web/', import.meta.url).pathname,
  // Another build loaded in the same rounds, untraced, for a before/after that one run's noise cannot blur.
  baselineDir: env.BASELINE_DIR || undefined,
  // The service also loaded in the same rounds with tracing on, sampling each of these ratios (1 traces every request).
  tracingRatios: ratios('TRACING_RATIOS')
}

function ratios (name) {
  return (env[name] ?? '').split(',').filter(Boolean).map((raw) => {
    const value = Number(raw)
    if (!(value >= 0 && value <= 1)) throw new Error(`${name} must be ratios from 0 to 1, comma-separated, got "${raw}"`)
    return value
  })
}

// Where PostgreSQL and Redis are; the bench creates its own database and claims
// its own Redis logical DB there.
export const PG = {
  host: env.DB_HOST || '127.0.0.1',
  port: Number(env.DB_PORT || 5432),
  user: env.DB_USER || 'postgres',
  password: env.DB_PASSWORD || undefined
}
export const REDIS = {
  host: env.REDIS_HOST || '127.0.0.1',
  port: Number(env.REDIS_PORT || 6379),
  password: env.REDIS_PASSWORD || undefined
}

export const TARGETS = { throughputRatio: 0.8, growthRatio: 1.5, rssRatio: 1.5, startupMs: 1000 }
