import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import type { ErrorObject } from 'ajv'
import { Type, type Static } from '@sinclair/typebox'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
type LogLevel = typeof LOG_LEVELS[number]

const Port = (fallback: number) => Type.Integer({ minimum: 1, maximum: 65535, default: fallback })
const Name = (fallback: string) => Type.String({ minLength: 1, default: fallback })
const Millis = (fallback: number) => Type.Integer({ minimum: 1, default: fallback })

const ConfigSchema = Type.Object({
  PORT: Port(5000),
  HOST: Name('0.0.0.0'),
  DB_HOST: Name('db'),
  DB_PORT: Port(5432),
  DB_NAME: Name('desafio3'),
  DB_USER: Name('postgres'),
  DB_PASSWORD: Type.Optional(Type.String()),
  DB_PASSWORD_FILE: Type.Optional(Type.String({ minLength: 1 })),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  REDIS_HOST: Name('cache'),
  REDIS_PORT: Port(6379),
  REDIS_DB: Type.Integer({ minimum: 0, maximum: 15, default: 0 }),
  REDIS_PASSWORD: Type.Optional(Type.String()),
  REDIS_PASSWORD_FILE: Type.Optional(Type.String({ minLength: 1 })),
  DEPENDENCY_TIMEOUT_MS: Millis(800),
  SHUTDOWN_TIMEOUT_MS: Millis(10000),
  LOG_LEVEL: Type.Unsafe<LogLevel>({ type: 'string', enum: LOG_LEVELS, default: 'info' })
})

type RawConfig = Static<typeof ConfigSchema>

export type Config = Omit<RawConfig, 'DB_PASSWORD_FILE' | 'REDIS_PASSWORD_FILE'>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Reads and validates the whole configuration once, at start. Every problem is
 * reported with the variable's name so an operator can fix it without reading code.
 */
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
