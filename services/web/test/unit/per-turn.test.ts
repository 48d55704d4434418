import t from 'tap'
import { sharedPerTurn, TurnBatch } from '../../src/per-turn.js'

/** A stand-in round trip: counts its runs and settles when told to. */
function roundTrip () {
  const settle: Array<{ resolve: (value: number) => void, reject: (reason: Error) => void }> = []
  let runs = 0
  const run = async () => await new Promise<number>((resolve, reject) => {
    runs++
    settle.push({ resolve, reject })
  })
  return { run, runs: () => runs, settle }
}

const nextTurn = async () => await new Promise((resolve) => setImmediate(resolve))

t.test('callers in one turn of the event loop share one run and its outcome', async (t) => {
  const { run, runs, settle } = roundTrip()
  const shared = sharedPerTurn('test work', run)
  const callers = [shared(), shared(), shared()]
  t.equal(runs(), 0, 'nothing runs before the turn ends')
  await nextTurn()
  t.equal(runs(), 1)
  settle[0]!.resolve(7)
  t.same(await Promise.all(callers), [7, 7, 7])
})

t.test('a caller never gets the outcome of a run that had started before it called', async (t) => {
  const { run, runs, settle } = roundTrip()
  const shared = sharedPerTurn('test work', run)
  const early = shared()
  await nextTurn()
  const late = shared()
  await nextTurn()
  t.equal(runs(), 2, 'the late caller has a run of its own')
  settle[1]!.resolve(2)
  settle[0]!.resolve(1)
  t.equal(await early, 1)
  t.equal(await late, 2)
})

t.test('a failed run fails each of its callers, and the next turn runs again', async (t) => {
  const { run, runs, settle } = roundTrip()
  const shared = sharedPerTurn('test work', run)
  const failing = [shared(), shared()]
  await nextTurn()
  settle[0]!.reject(new Error('connection refused'))
  for (const caller of failing) await t.rejects(caller, /connection refused/)
  const after = shared()
  await nextTurn()
  t.equal(runs(), 2)
  settle[1]!.resolve(3)
  t.equal(await after, 3)
})

t.test('a batch held back by mayFlush waits, whatever is added, and leaves whole once scheduled again', async (t) => {
  const flushed: number[][] = []
  let open = false
  const batch = new TurnBatch<number>((items) => flushed.push(items), () => open)
  batch.add(1)
  await nextTurn()
  batch.add(2)
  await nextTurn()
  t.same(flushed, [], 'held back')
  open = true
  batch.schedule()
  t.same(flushed, [], 'not before the turn ends')
  await nextTurn()
  t.same(flushed, [[1, 2]])
})
