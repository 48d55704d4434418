import type { FastifyBaseLogger } from 'fastify'

/**
 * Remembers whether a dependency answered last time, so an outage is logged once
 * when it starts and once when it ends instead of once per failed call or retry.
 */
export class Availability {
  #up: boolean | undefined
  #failures = 0

  constructor (private readonly log: FastifyBaseLogger, private readonly name: string) {}

  markUp (): void {
    if (this.#up === true) return
    this.log.info(`${this.name} is available`)
    this.#up = true
  }

  markDown (cause: unknown): void {
    this.#failures++
    if (this.#up === false) return
    this.log.warn({ err: cause }, `${this.name} is unavailable`)
    this.#up = false
  }

  /**
   * Awaits a call, recording whether it answered; a failure marks it down only if
   * `failureShowsOutage`. A call that was under way when a failure was seen
   * does not mark it up: its late answer says nothing about the outage.
   */
  async track<T> (call: Promise<T>, failureShowsOutage = () => true): Promise<T> {
    const failuresBefore = this.#failures
    try {
      const result = await call
      if (this.#failures === failuresBefore) this.markUp()
      return result
    } catch (err) {
      if (failureShowsOutage()) this.markDown(err)
      throw err
    }
  }
}

/** No reconnect or migration retry waits longer than this, so recovery is quick once a dependency is back. */
const RETRY_CAP_MS = 2000

/** The wait before retry number `attempt` (0 first): doubling, capped at RETRY_CAP_MS. */
export function retryDelayMs (attempt: number): number {
  return Math.min(100 * 2 ** attempt, RETRY_CAP_MS)
}
