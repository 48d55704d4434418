import type { Span } from '@opentelemetry/api'
import { awaitShared, inCallersTrace, outsideAnyTrace, runShared } from './tracing/shared-work.js'

/**
 * Work shared within one turn of the event loop. Under load, one turn's I/O
 * callbacks parse many requests; what they ask for is collected while the turn
 * runs and done once, in setImmediate, after every one of them. No timer, so a
 * lone caller waits for nothing; not process.nextTick, which would run after
 * each request and share nothing. The flush belongs to no one request: it runs
 * outside any trace, not in that of whichever request scheduled it.
 */
export class TurnBatch<T> {
  #items: T[] = []
  #scheduled = false

  /** While `mayFlush` says no, items wait: call `schedule` once it would say yes. */
  constructor (private readonly flush: (items: T[]) => void, private readonly mayFlush: () => boolean = () => true) {}

  add (item: T): void {
    this.#items.push(item)
    this.schedule()
  }

  schedule (): void {
    if (this.#scheduled || this.#items.length === 0 || !this.mayFlush()) return
    this.#scheduled = true
    setImmediate(this.#flushScheduled)
  }

  /** Flushes what is waiting now, for when the turn will not end (process.exit skips setImmediate). */
  readonly flushNow = (): void => {
    if (this.#items.length === 0) return
    const items = this.#items
    this.#items = []
    this.flush(items)
  }

  readonly #flushScheduled = (): void => {
    this.#scheduled = false
    outsideAnyTrace(this.flushNow)
  }
}

/**
 * One run of `run` shared by every caller of a turn. A caller never gets the
 * outcome of a run that started before it called, so the answer is as live as a
 * call of its own. Traced as `name` (tracing/shared-work.ts).
 */
export function sharedPerTurn<T> (name: string, run: () => Promise<T>): () => Promise<T> {
  const batch = new TurnBatch<{ resolve: (value: T) => void, reject: (reason: unknown) => void, wait: Span | undefined }>((callers) => {
    runShared(name, callers.map((caller) => caller.wait), run).then(
      (value) => { for (const caller of callers) caller.resolve(value) },
      (reason: unknown) => { for (const caller of callers) caller.reject(reason) }
    )
  })
  return async () => await awaitShared(name, (wait) => new Promise<T>((resolve, reject) => batch.add({ resolve, reject, wait })))
}

/**
 * Calls made in one turn, each still its caller's own, made together once the
 * turn's requests have all been parsed: `together` gets a function that makes
 * them all (within one write, say). Each call stays in its caller's trace
 * (tracing/shared-work.ts).
 */
export function togetherPerTurn (together: (makeCalls: () => void) => void): <T>(call: () => Promise<T>) => Promise<T> {
  const batch = new TurnBatch<() => void>((calls) => {
    together(() => {
      for (const call of calls) call()
    })
  })
  // Not async: the promise below is the caller's, with no second one around it.
  return <T>(call: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    batch.add(inCallersTrace(() => {
      // A call that throws fails its caller only, not the calls after it.
      try {
        call().then(resolve, reject)
      } catch (err) {
        reject(err)
      }
    }))
  })
}
