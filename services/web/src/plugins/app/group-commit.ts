/** A row the group statement inserted. */
export interface InsertedRow { id: number, endpoint: string }

/** What a caller that asked for the total gets: its own id, and the total read after its row committed. */
export interface Counted { id: number, total: number }

type Caller = { endpoint: string, reject: (err: unknown) => void } & (
  | { counted: false, resolve: (id: number) => void }
  | { counted: true, resolve: (answer: Counted) => void }
)

/**
 * Group commit: rows asked for in the same event-loop turn go to PostgreSQL as
 * one statement (one round trip, one commit, one trigger call for the counter
 * instead of one each), and one read of the total after that commit serves
 * every caller of the group that wants it.
 *
 * The queue is flushed by setImmediate, after the turn's I/O callbacks (every
 * request parsed in it) have run; process.nextTick would flush after each
 * request, one row at a time. No timer, so a lone request goes at once. While
 * `maxInFlight` groups are at the database the queue keeps filling and leaves
 * as soon as one returns: under load groups grow instead of each row waiting
 * for a pool connection of its own, and the rest of the pool stays free.
 *
 * Contract: a caller is answered only after the statement holding its row
 * committed, with an id no other caller gets; a total is read after that
 * commit, so it counts every row committed before it, and after any burst
 * the next total is the highest so far + 1. A failed statement rejects every
 * caller of its group, a failed total read only the callers that wanted it.
 */
export class GroupCommit {
  #queue: Caller[] = []
  #flushScheduled = false
  #inFlight = 0

  constructor (
    private readonly insert: (endpoints: string[]) => Promise<InsertedRow[]>,
    private readonly count: () => Promise<number>,
    private readonly maxInFlight: number
  ) {}

  /** Inserts one row for `endpoint`; its id once committed. */
  async add (endpoint: string): Promise<number> {
    return await new Promise((resolve, reject) => this.#enqueue({ endpoint, counted: false, resolve, reject }))
  }

  /** Inserts one row for `endpoint`; its id and the total, read after it committed. */
  async addCounted (endpoint: string): Promise<Counted> {
    return await new Promise((resolve, reject) => this.#enqueue({ endpoint, counted: true, resolve, reject }))
  }

  #enqueue (caller: Caller): void {
    this.#queue.push(caller)
    this.#schedule()
  }

  #schedule (): void {
    if (this.#flushScheduled || this.#inFlight >= this.maxInFlight || this.#queue.length === 0) return
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      const group = this.#queue
      this.#queue = []
      this.#inFlight++
      // The slot is held until the total is read too: a group never holds more than one connection.
      this.#run(group).finally(() => {
        this.#inFlight--
        this.#schedule()
      })
    })
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
