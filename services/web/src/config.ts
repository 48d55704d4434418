import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import type { ErrorObject } from 'ajv'
import { Type, type Static } from '@sinclair/typebox'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type LogLevel = typeof LOG_LEVELS[number]
// The samplers the OpenTelemetry SDK for Node.js builds from OTEL_TRACES_SAMPLER.
const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const
type Sampler = typeof SAMPLERS[number]

const Port = (fallback: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 65535, default: fallback, description })
const Name = (fallback: string, description: string) => Type.String({ minLength: 1, default: fallback, description })
const Millis = (fallback: number, description: string) => Type.Integer({ minimum: 1, default: fallback, description })
const Secret = (description: string) => Type.Optional(Type.String({ description }))
const SecretFile = (description: string) => Type.Optional(Type.String({ minLength: 1, description }))

/** Every setting, its default and what it means: the one place they are written. */
export const ConfigSchema = Type.Object({
  PORT: Port(5000, 'Port the service listens on.'),
  HOST: Name('0.0.0.0', 'Address the service listens on.'),
  DB_HOST: Name('db', 'PostgreSQL host.'),
  DB_PORT: Port(5432, 'PostgreSQL port.'),
  DB_NAME: Name('desafio3', 'PostgreSQL database the service uses.'),
  DB_USER: Name('postgres', 'PostgreSQL user.'),
  DB_PASSWORD: Secret('PostgreSQL password; or DB_PASSWORD_FILE, not both.'),
  DB_PASSWORD_FILE: SecretFile('File holding the PostgreSQL password (a Docker secret); or DB_PASSWORD, not both.'),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Most connections the service holds open to PostgreSQL.' }),
  REDIS_HOST: Name('cache', 'Redis host.'),
  REDIS_PORT: Port(6379, 'Redis port.'),
  REDIS_DB: Type.Integer({ minimum: 0, maximum: 15, default: 0, description: 'Redis logical database (0-15) holding the service\'s keys.' }),
  REDIS_PASSWORD: Secret('Redis password; or REDIS_PASSWORD_FILE, not both. None by default.'),
  REDIS_PASSWORD_FILE: SecretFile('File holding the Redis password (a Docker secret); or REDIS_PASSWORD, not both.'),
  DEPENDENCY_TIMEOUT_MS: Millis(800, 'How long, in milliseconds, a connection attempt or query to PostgreSQL or Redis may take, ' +
    'and the OTLP collector to take the last spans at shutdown.'),
  SHUTDOWN_DELAY_MS: Type.Integer({
    minimum: 0,
    default: 0,
    description: 'After SIGTERM/SIGINT, how long, in milliseconds, the service keeps serving before it closes its listener: ' +
      '/health/ready answers 503 (encerrando) and every answer carries Connection: close. ' +
      'Set it above the balancer\'s health-check interval where one balances (Kubernetes); 0 where nothing does (compose).'
  }),
  SHUTDOWN_TIMEOUT_MS: Millis(10000, 'How long, in milliseconds, shutdown then waits for in-flight requests before exiting anyway; ' +
    'SHUTDOWN_DELAY_MS plus this must stay under the stop grace period (compose\'s stop_grace_period).'),
  LOG_LEVEL: Type.Unsafe<LogLevel>({ type: 'string', enum: LOG_LEVELS, default: 'info', description: `pino log level: ${LOG_LEVELS.join(', ')}.` }),
  // The standard OpenTelemetry variables, read by the SDK itself; validated and documented here.
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({
    pattern: '^https?://',
    description: 'Base URL of the OTLP/HTTP (protobuf) collector traces are sent to (/v1/traces is appended). Tracing is off, and the SDK not loaded, unless it is set.'
  })),
  OTEL_SERVICE_NAME: Name('web', 'Service name the traces carry.'),
  OTEL_TRACES_SAMPLER: Type.Unsafe<Sampler>({
    type: 'string',
    enum: SAMPLERS,
    default: 'parentbased_always_on',
    description: `Which requests are traced: ${SAMPLERS.join(', ')}; parentbased_* follow an incoming traceparent's decision.`
  }),
  OTEL_TRACES_SAMPLER_ARG: Type.Optional(Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'Ratio of new traces sampled by the traceidratio samplers, 0 to 1; 1 when unset.'
  })),
  OTEL_SDK_DISABLED: Type.Boolean({ default: false, description: 'true turns tracing off even with an endpoint set.' })
})

type RawConfig = Static<typeof ConfigSchema>

export type Config = Omit<RawConfig, 'DB_PASSWORD_FILE' | 'REDIS_PASSWORD_FILE'>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Reads and validates the configuration once, at start, naming the variable of each problem. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  let raw: RawConfig
  try {
    raw = envSchema<RawConfig>({ schema: ConfigSchema, data: { ...env }, env: false })
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${describe(error as EnvError)}`)
  }
  const { DB_PASSWORD_FILE, REDIS_PASSWORD_FILE, ...config } = raw
  return {
    ...config,
    DB_PASSWORD: secret('DB_PASSWORD', config.DB_PASSWORD, DB_PASSWORD_FILE),
    REDIS_PASSWORD: secret('REDIS_PASSWORD', config.REDIS_PASSWORD, REDIS_PASSWORD_FILE)
  }
}

// Docker secrets arrive as files; the value wins only when it is the sole source,
// so a stray variable can never silently override the mounted secret.
function secret (name: string, value: string | undefined, file: string | undefined): string | undefined {
  if (file === undefined) return value
  if (value !== undefined) {
    throw new ConfigError(`invalid configuration: set ${name} or ${name}_FILE, not both`)
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${name}_FILE must name a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}: ${file})`)
  }
}

/** Whether requests are traced: an endpoint is set and the SDK is not disabled. */
export function tracingEnabled (config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SDK_DISABLED'>): boolean {
  return config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && !config.OTEL_SDK_DISABLED
}

type EnvError = Error & { errors?: ErrorObject[] }

function describe (error: EnvError): string {
  if (error.errors === undefined) return error.message
  return error.errors.map(({ instancePath, message, params }) => {
    const allowed = 'allowedValues' in params ? ` (${(params.allowedValues as string[]).join(', ')})` : ''
    return `${instancePath.slice(1)} ${message ?? 'is invalid'}${allowed}`
  }).join('; ')
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}
