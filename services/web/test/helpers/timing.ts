import { setTimeout as sleep } from 'node:timers/promises'

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
