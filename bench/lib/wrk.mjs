// One load run with wrk: C, one thread, epoll, a few µs of CPU per request, so
// on two cores it leaves the server and the databases nearly all the CPU
// (autocannon, a Node load generator, took about as much CPU as the server).
import { once } from 'node:events'
import { startChild } from './servers.mjs'
import { cpuMs } from './proc.mjs'

const REPORT_SCRIPT = new URL('wrk-report.lua', import.meta.url).pathname

/**
 * `connections` keep-alive connections load `url` for `seconds`. Returns the
 * answers counted, 2xx answers per second, p50/p99 latency in ms (of every answer: a run with errors
 * says so in `errors`), errors (non-2xx/3xx answers, socket errors, timeouts)
 * and the CPU the server `pid` spent per answer.
 */
export async function load (url, { seconds, connections, pid }) {
  const cpuBefore = cpuMs(pid)
  // One thread: a second one would only compete with the server for the other core.
  const child = startChild({
    name: 'wrk',
    command: 'wrk',
    args: ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '2s', '-s', REPORT_SCRIPT, url],
    env: { PATH: process.env.PATH },
    logFile: 'pipe'
  })
  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => { stdout += chunk })
  const [code, signal] = await once(child, 'exit')
  const cpuUsed = cpuMs(pid) - cpuBefore
  const line = /^BENCH_JSON (.*)$/m.exec(stdout)
  if (code !== 0 || line === null) throw new Error(`wrk failed (${code ?? signal}): ${child.stderrTail || stdout}`)
  const r = JSON.parse(line[1])
  const elapsed = r.durationUs / 1e6
  return {
    requests: r.requests,
    rps: (r.requests - r.status) / elapsed,
    p50: r.p50Us / 1000,
    p99: r.p99Us / 1000,
    errors: r.status + r.connect + r.read + r.write + r.timeout,
    // CPU the server spent per answer: the cost of its code path, whatever else the machine did.
    cpuPerRequestUs: r.requests > 0 ? (cpuUsed * 1000) / r.requests : NaN
  }
}
