import { trace } from '@opentelemetry/api'
import { node } from '@opentelemetry/sdk-node'
import t from 'tap'
import { sharedPerTurn, togetherPerTurn, TurnBatch } from '../../src/per-turn.js'

// The context manager the SDK installs, so that a call can be seen to run in its caller's trace.
const provider = new node.NodeTracerProvider()
provider.register()
const tracer = provider.getTracer('per-turn test')

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

/** The name of the active span, as a call would see it when it is made. */
const activeSpanName = () => (trace.getActiveSpan() as { name?: string } | undefined)?.name ?? 'no span'

t.test('a flush belongs to no request: it runs outside any trace, whoever scheduled it', async (t) => {
  const seen: string[] = []
  const batch = new TurnBatch<number>(() => seen.push(activeSpanName()))
  tracer.startActiveSpan('request A', (span) => {
    batch.add(1)
    span.end()
  })
  await nextTurn()
  t.same(seen, ['no span'])
})

/** A `together` that records which calls it made, batch by batch. */
function recordingTogether () {
  const batches: number[][] = []
  let current: number[] | undefined
  const together = (makeCalls: () => void) => {
    current = []
    makeCalls()
    batches.push(current)
    current = undefined
  }
  /** A call that says it was made, and by which batch, and answers `value`. */
  const call = (value: number) => async () => {
    if (current === undefined) throw new Error(`call ${value} made outside together`)
    current.push(value)
    return value
  }
  return { batches, together, call }
}

t.test('the calls of one turn are made together once it ends, each answering its own caller', async (t) => {
  const { batches, together, call } = recordingTogether()
  const inOneWrite = togetherPerTurn(together)
  const callers = [inOneWrite(call(1)), inOneWrite(call(2)), inOneWrite(call(3))]
  t.same(batches, [], 'nothing is made before the turn ends')
  t.same(await Promise.all(callers), [1, 2, 3])
  t.same(batches, [[1, 2, 3]], 'one batch, in the callers\' order')
  t.same(await inOneWrite(call(4)), 4)
  t.same(batches, [[1, 2, 3], [4]], 'a later turn makes a batch of its own')
})

t.test('a call that throws fails its own caller only', async (t) => {
  const { batches, together, call } = recordingTogether()
  const inOneWrite = togetherPerTurn(together)
  const failing = inOneWrite(() => { throw new Error('cannot send') })
  const after = inOneWrite(call(2))
  await t.rejects(failing, /cannot send/)
  t.equal(await after, 2)
  t.same(batches, [[2]])
})

t.test('each call is made in its caller\'s trace, an untraced caller\'s in none, whoever scheduled the batch', async (t) => {
  const spanName = async () => activeSpanName()
  const inOneWrite = togetherPerTurn((makeCalls) => makeCalls())
  const callers = [
    tracer.startActiveSpan('request A', (span) => { span.end(); return inOneWrite(spanName) }),
    inOneWrite(spanName),
    tracer.startActiveSpan('request B', (span) => { span.end(); return inOneWrite(spanName) })
  ]
  t.same(await Promise.all(callers), ['request A', 'no span', 'request B'])
})
