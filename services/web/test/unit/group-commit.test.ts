import t from 'tap'
import { GroupCommit, type InsertedRow } from '../../src/repositories/group-commit.js'

/** A stand-in for the group statement: hands out ids in order and remembers each group it got. */
function fakeInsert () {
  const groups: string[][] = []
  let nextId = 1
  const insert = async (endpoints: string[]): Promise<InsertedRow[]> => {
    groups.push(endpoints)
    return endpoints.map((endpoint) => ({ id: nextId++, endpoint }))
  }
  return { groups, insert }
}

t.test('a lone insert leaves on the next turn of the event loop, without waiting for a timer', async (t) => {
  const { groups, insert } = fakeInsert()
  const commit = new GroupCommit(insert, async () => 1, 1)
  const id = commit.add('/integracao')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(groups, [['/integracao']])
  t.equal(await id, 1)
})

t.test('when the total cannot be read, only the callers that wanted it fail; the others get their committed ids', async (t) => {
  const { groups, insert } = fakeInsert()
  const failure = new Error('total unavailable')
  const commit = new GroupCommit(insert, async () => { throw failure }, 1)
  const [counted, plain] = await Promise.allSettled([commit.addCounted('/db/test'), commit.add('/integracao')])
  t.same(groups, [['/db/test', '/integracao']], 'one group')
  t.same(counted, { status: 'rejected', reason: failure })
  t.same(plain, { status: 'fulfilled', value: 2 })
})
