// Throughput and latency: each endpoint loaded on every server in interleaved
// rounds, at `settings.connections` and then at one connection.
import { percentile } from './percentile.mjs'
import { loadAverage } from './proc.mjs'
import { settings } from './settings.mjs'
import { log } from './state.mjs'
import { load } from './wrk.mjs'

/**
 * Other tenants of a shared machine make any single run swing by ±20 %. So each
 * endpoint is measured in several short rounds, each starting with the next
 * server in turn (never two loaded at once), and each server is represented by
 * its median round. Returns one row per endpoint for each connection count,
 * holding each server's result by name.
 */
export async function throughputPhase (servers) {
  const rows = { many: [], one: [] }
  for (const endpoint of settings.endpoints) {
    for (const server of servers) {
      log(`load ${endpoint}: ${server.name} warm-up`)
      await load(server.url + endpoint, { seconds: settings.warmup, connections: settings.connections, pid: server.pid })
    }
    // Already warm: the one-connection rounds follow without another warm-up.
    for (const [key, connections] of [['many', settings.connections], ['one', 1]]) {
      const rounds = new Map(servers.map((server) => [server.name, []]))
      const loads = []
      for (let round = 0; round < settings.rounds; round++) {
        for (const server of [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)]) {
          const result = await load(server.url + endpoint, { seconds: settings.duration, connections, pid: server.pid })
          log(`load ${endpoint}: ${server.name}, ${connections} connection(s), round ${round + 1} of ${settings.rounds}: ` +
            `${Math.round(result.rps)} req/s, ${Math.round(result.cpuPerRequestUs)} µs CPU/req`)
          rounds.get(server.name).push(result)
        }
        loads.push(loadAverage())
      }
      const results = Object.fromEntries([...rounds].map(([name, results]) => [name, percentile(results, 0.5, (result) => result.rps)]))
      rows[key].push({ endpoint, results, toMinimal: pairedRatios(rounds, 'minimal'), toService: pairedRatios(rounds, 'service'), load: Math.max(...loads) })
    }
  }
  return rows
}

/**
 * Each server's req/s over the `reference` server's in the same round: the
 * median over the rounds, and the quartiles, which show how far the rounds
 * spread. The machine's speed drifts over seconds; a ratio within one round,
 * whose loads are seconds apart, cancels most of it.
 */
function pairedRatios (rounds, reference) {
  const references = rounds.get(reference)
  return Object.fromEntries([...rounds].map(([name, results]) => {
    const ratios = results.map((result, round) => result.rps / references[round].rps)
    return [name, { median: percentile(ratios, 0.5), low: percentile(ratios, 0.25), high: percentile(ratios, 0.75) }]
  }))
}
