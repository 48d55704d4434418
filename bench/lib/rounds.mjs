// Throughput and latency: each endpoint loaded on both servers in interleaved
// rounds, at `settings.connections` and then at one connection.
import { loadAverage } from './proc.mjs'
import { settings } from './settings.mjs'
import { log } from './state.mjs'
import { load } from './wrk.mjs'

/**
 * Other tenants of a shared machine make any single run swing by ±20 %. So each
 * endpoint is measured in several short rounds, alternating which server goes
 * first (never both loaded at once), and each server is represented by its
 * median round. Returns one row per endpoint for each connection count.
 */
export async function throughputPhase (service, minimal) {
  const rows = { many: [], one: [] }
  const servers = [['service', service], ['minimal', minimal]]
  for (const endpoint of settings.endpoints) {
    for (const [name, server] of servers) {
      log(`load ${endpoint}: ${name} warm-up`)
      await load(server.url + endpoint, { seconds: settings.warmup, connections: settings.connections, pid: server.pid })
    }
    // Already warm: the one-connection rounds follow without another warm-up.
    for (const [key, connections] of [['many', settings.connections], ['one', 1]]) {
      const rounds = { service: [], minimal: [] }
      const loads = []
      for (let round = 0; round < settings.rounds; round++) {
        for (const [name, server] of round % 2 === 0 ? servers : [...servers].reverse()) {
          log(`load ${endpoint}: ${name}, ${connections} connection(s), round ${round + 1} of ${settings.rounds}`)
          rounds[name].push(await load(server.url + endpoint, { seconds: settings.duration, connections, pid: server.pid }))
        }
        loads.push(loadAverage())
      }
      const onService = medianRound(rounds.service)
      const onMinimal = medianRound(rounds.minimal)
      rows[key].push({ endpoint, service: onService, minimal: onMinimal, ratio: onService.rps / onMinimal.rps, load: Math.max(...loads) })
    }
  }
  return rows
}

function medianRound (results) {
  return [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)]
}
