// Growth: /db/test p99 on the service with `acessos` empty, then with
// `settings.growthRows` rows; the trigger-kept counter must still be exact.
import { withPg } from './databases.mjs'
import { settings } from './settings.mjs'
import { log } from './state.mjs'
import { load } from './wrk.mjs'

/**
 * Leaves `acessos` with exactly `rows` rows, then settles the database (VACUUM
 * sets hint bits and the visibility map, CHECKPOINT flushes the dirty pages) so
 * neither the bulk load's aftermath nor a checkpoint lands in the measurement.
 */
async function prepareAcessos (database, rows) {
  await withPg(database, async (client) => {
    await client.query('TRUNCATE acessos')
    if (rows > 0) {
      await client.query("INSERT INTO acessos (endpoint) SELECT '/seed' FROM generate_series(1, $1::int)", [rows])
    }
    await client.query('VACUUM (ANALYZE) acessos')
    await client.query('CHECKPOINT')
  })
}

export async function growthPhase (service, database) {
  // The service is warm from the throughput phase: no warm-up, which would add rows.
  const run = () => load(`${service.url}/db/test`, { seconds: settings.duration, connections: settings.connections, pid: service.pid })
  log('growth: /db/test on an empty acessos')
  await prepareAcessos(database, 0)
  const empty = await run()
  const rowsText = settings.growthRows.toLocaleString('en-US')
  log(`growth: filling acessos with ${rowsText} rows`)
  const fillStart = performance.now()
  await prepareAcessos(database, settings.growthRows)
  log(`growth: /db/test on ${rowsText} rows (filled in ${((performance.now() - fillStart) / 1000).toFixed(1)} s)`)
  const full = await run()
  const total = await withPg(database, async (client) => {
    const { rows: [row] } = await client.query('SELECT (SELECT count(*) FROM acessos) AS rows, (SELECT sum(total) FROM acessos_contagem) AS counter')
    return row
  })
  return { empty, full, ratio: full.p99 / empty.p99, counterExact: BigInt(total.rows) === BigInt(total.counter) }
}
