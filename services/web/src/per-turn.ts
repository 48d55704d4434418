/**
 * Shares one call among every caller in the same turn of the event loop. The
 * first caller schedules `run` with setImmediate (once the turn's I/O callbacks,
 * i.e. every request parsed in it, have run; no timer, so a lone caller waits
 * for nothing) and every caller until it starts gets its outcome. A caller never
 * gets the outcome of a run that started before it called, so the answer is as
 * live as a call of its own: for `GET /` and the readiness probe, a round trip
 * to the dependency made after the request arrived. Under load, one round trip
 * serves the whole turn instead of one each (docs/performance.md).
 */
export function sharedPerTurn<T> (run: () => Promise<T>): () => Promise<T> {
  let next: Promise<T> | undefined
  return () => (next ??= new Promise<T>((resolve, reject) => {
    setImmediate(() => {
      next = undefined
      run().then(resolve, reject)
    })
  }))
}
