import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { Value } from '@sinclair/typebox/value'
import type { Static, TSchema } from '@sinclair/typebox'
import type { Test } from 'tap'
import { buildApp, type App } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { ownedTempDir } from './owner.js'
import { claimRedisDatabase, createDatabase, services } from './services.js'
import { UNHURRIED, waitUntil } from './timing.js'

/**
 * The service's whole environment, pointing at this test's own database and
 * Redis DB. Passwords go in files, as compose's secrets do, so a test that sets
 * a `*_FILE` of its own replaces them instead of clashing with a variable.
 */
export async function isolatedEnv (t: Test): Promise<NodeJS.ProcessEnv> {
  const [database, redisDb] = await Promise.all([createDatabase(t), claimRedisDatabase(t)])
  return {
    DB_HOST: services.db.host,
    DB_PORT: String(services.db.port),
    DB_USER: services.db.user,
    DB_NAME: database,
    REDIS_HOST: services.redis.host,
    REDIS_PORT: String(services.redis.port),
    REDIS_DB: String(redisDb),
    ...await passwordFile(t, 'DB_PASSWORD_FILE', services.db.password),
    ...await passwordFile(t, 'REDIS_PASSWORD_FILE', services.redis.password)
  }
}

async function passwordFile (t: Test, name: string, password: string | undefined): Promise<NodeJS.ProcessEnv> {
  if (password === undefined) return {}
  const dir = await ownedTempDir(t, 'secret')
  const file = join(dir, 'password')
  await writeFile(file, `${password}\n`, { mode: 0o600 })
  return { [name]: file }
}

/** One JSON log line of the service. */
export type LogLine = Record<string, unknown>

export interface TestApp {
  app: App
  config: Config
  /** Every log line the app wrote, parsed. */
  logs: LogLine[]
}

/** pino's numeric levels, as they appear on a log line. */
export const level = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const

export interface TestAppOptions {
  /** Adds to the app before it is ready: a route that throws, say. */
  extend?: (app: App) => void
}

/**
 * The app built as `server.ts` builds it, on its own database and Redis DB, closed
 * after the test; with `UNHURRIED`'s dependency timeout unless `overrides` sets one.
 */
export async function buildTestApp (t: Test, overrides: NodeJS.ProcessEnv = {}, options: TestAppOptions = {}): Promise<TestApp> {
  return await buildAppOn(t, { ...await isolatedEnv(t), ...UNHURRIED, ...overrides }, options)
}

/** The app on exactly `env` (from `isolatedEnv`, say), logging at debug into `logs`; closed after the test. */
export async function buildAppOn (t: Test, env: NodeJS.ProcessEnv, { extend }: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({ LOG_LEVEL: 'debug', ...env })
  const logs: LogLine[] = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line))
      done()
    }
  })
  const app = await buildApp(config, { logStream: stream })
  t.teardown(() => app.close())
  extend?.(app)
  await app.ready()
  return { app, config, logs }
}

/**
 * How long the service took over `response`, by its own clock: the
 * `responseTime` of the request's log line, found by the request id the answer
 * carries, among the lines `logs` reads (an app's, a spawned server's, a
 * container's). Time the test spent around the call (inject, port forwarding,
 * other work on a busy machine) is not in it.
 */
export async function respondedInMs (logs: () => LogLine[] | Promise<LogLine[]>, response: Response): Promise<number> {
  const reqId = response.headers['x-request-id']
  let line: LogLine | undefined
  // Log lines are written once the turn ends, so the line may follow the answer.
  await waitUntil(async () => (line = (await logs()).find((line) => line.reqId === reqId && line.msg === 'request completed')) !== undefined,
    `the log line of request ${String(reqId)}`)
  return Number(line!.responseTime)
}

/** A route's `schema` as far as its answers go: one body schema per status, or per class (`4xx`). */
export interface RouteSchema {
  response: Record<string | number, TSchema>
}

/** An answer read whole, by inject, fetch or a raw socket alike. */
export interface Response {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** The key a route's schema declares `status` under: itself, or its class (`4xx`). */
type DeclaredFor<R, N extends number> =
  N extends keyof R ? N
    : `${N}` extends `${infer Digit}${string}` ? (`${Digit}xx` extends keyof R ? `${Digit}xx` : never) : never

/** The body type the route's schema declares for `status`. */
export type BodyOf<S extends RouteSchema, N extends number> = Static<S['response'][DeclaredFor<S['response'], N>]>

/**
 * Checks a real response against the schema its route declares for that status
 * (the route's own object, not a copy) and returns the parsed body, typed by that schema.
 */
export function checkBody<S extends RouteSchema, N extends number> (t: Test, response: Response, status: N, schema: S): BodyOf<S, N> {
  t.equal(response.statusCode, status, `status is ${status}`)
  t.match(response.headers['content-type'], /^application\/json; charset=utf-8$/)
  const declared = schema.response[status] ?? schema.response[`${String(status)[0]}xx`]
  if (declared === undefined) throw new Error(`the route declares no schema for ${status}`)
  const body: unknown = JSON.parse(response.body)
  const errors = [...Value.Errors(declared, body)].map(({ path, message }) => `${path} ${message}`)
  t.same(errors, [], 'body matches the route\'s response schema')
  return body as BodyOf<S, N>
}
