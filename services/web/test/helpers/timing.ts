import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigSchema } from '../../src/config.js'

/** The documented bound on one connection attempt or one query to PostgreSQL or Redis: the setting's default. */
export const DEPENDENCY_TIMEOUT_MS: number = ConfigSchema.properties.DEPENDENCY_TIMEOUT_MS.default
/** `/` waits for one ping: a connection, then its answer, each within the dependency timeout. */
export const statusWithinMs = (dependencyTimeoutMs: number) => 2 * dependencyTimeoutMs
/** The bound on `/` with the documented timeout. */
export const STATUS_WITHIN_MS = statusWithinMs(DEPENDENCY_TIMEOUT_MS)
/** A failing endpoint's call may first wait for the group ahead of it at the database. */
export const ERROR_WITHIN_MS = 3 * DEPENDENCY_TIMEOUT_MS

/**
 * For a test that is not about the dependency timeout: a timeout that a starved
 * machine cannot turn a slow query or connection into.
 */
export const UNHURRIED: NodeJS.ProcessEnv = { DEPENDENCY_TIMEOUT_MS: '60000' }

/** The documented timeout, for a test about it, or whose Redis is down at start (the start waits for Redis that long). */
export const DOCUMENTED_TIMEOUT: NodeJS.ProcessEnv = { DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS) }

/** Runs `work` and says how long it took, in milliseconds. */
export async function timed<T> (work: () => Promise<T>): Promise<{ result: T, ms: number }> {
  const started = performance.now()
  const result = await work()
  return { result, ms: performance.now() - started }
}

/**
 * Polls `condition` until it holds and resolves with how long that took. Given
 * `withinMs`, a documented guarantee, it rejects naming `what` once that has
 * passed; otherwise the test's own timeout bounds the wait.
 */
export async function waitUntil (condition: () => boolean | Promise<boolean>, what: string, withinMs = Infinity): Promise<number> {
  const started = performance.now()
  while (!await condition()) {
    if (performance.now() - started > withinMs) throw new Error(`${what}: not within ${withinMs} ms`)
    await sleep(50)
  }
  return performance.now() - started
}
