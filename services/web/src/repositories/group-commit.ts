import type { Span } from '@opentelemetry/api'
import { TurnBatch } from '../per-turn.js'
import { awaitShared, runShared } from '../tracing/shared-work.js'

/** A row the group statement inserted. */
export interface InsertedRow { id: number, endpoint: string }

/** What a caller that asked for the total gets: its own id, and the total read after its row committed. */
export interface Counted { id: number, total: number }

type Caller = { endpoint: string, reject: (err: unknown) => void, wait: Span | undefined } & (
  | { counted: false, resolve: (id: number) => void }
  | { counted: true, resolve: (answer: Counted) => void }
)

/** The span of one group's statement (and total), each caller's wait linked to it. */
const GROUP_COMMIT = 'acessos group commit'

/**
 * Group commit: the rows asked for in one turn (per-turn.ts) go to PostgreSQL as
 * one statement, and one read of the total after its commit serves the whole
 * group. While `maxInFlight` groups are out the next one grows, so a burst takes
 * no more connections than that. A caller is answered after its row committed; a
 * failed statement fails its whole group, a failed total only those who wanted it.
 */
export class GroupCommit {
  #inFlight = 0
  readonly #batch = new TurnBatch<Caller>((group) => {
    this.#inFlight++
    // The slot is held until the total is read too: a group never holds more than one connection.
    runShared(GROUP_COMMIT, group.map((caller) => caller.wait), () => this.#run(group)).finally(() => {
      this.#inFlight--
      this.#batch.schedule()
    })
  }, () => this.#inFlight < this.maxInFlight)

  constructor (
    private readonly insert: (endpoints: string[]) => Promise<InsertedRow[]>,
    private readonly count: () => Promise<number>,
    private readonly maxInFlight: number
  ) {}

  /** Inserts one row for `endpoint`; its id once committed. */
  async add (endpoint: string): Promise<number> {
    return await awaitShared(GROUP_COMMIT, (wait) =>
      new Promise<number>((resolve, reject) => this.#batch.add({ endpoint, counted: false, resolve, reject, wait })))
  }

  /** Inserts one row for `endpoint`; its id and the total, read after it committed. */
  async addCounted (endpoint: string): Promise<Counted> {
    return await awaitShared(GROUP_COMMIT, (wait) =>
      new Promise<Counted>((resolve, reject) => this.#batch.add({ endpoint, counted: true, resolve, reject, wait })))
  }

  async #run (group: Caller[]): Promise<void> {
    let rows: InsertedRow[]
    try {
      rows = await this.insert(group.map((caller) => caller.endpoint))
    } catch (err) {
      for (const caller of group) caller.reject(err)
      return
    }
    // RETURNING's order is not guaranteed: each caller takes an id of a row with its endpoint.
    const ids = new Map<string, number[]>()
    for (const { id, endpoint } of rows) {
      const same = ids.get(endpoint)
      if (same === undefined) ids.set(endpoint, [id])
      else same.push(id)
    }
    const counted: Array<{ resolve: (answer: Counted) => void, reject: (err: unknown) => void, id: number }> = []
    for (const caller of group) {
      const id = ids.get(caller.endpoint)!.pop()!
      if (caller.counted) counted.push({ resolve: caller.resolve, reject: caller.reject, id })
      else caller.resolve(id)
    }
    if (counted.length === 0) return
    try {
      const total = await this.count()
      for (const { resolve, id } of counted) resolve({ id, total })
    } catch (err) {
      for (const { reject } of counted) reject(err)
    }
  }
}
