// The Markdown report: machine, throughput and latency tables, growth, resources.
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { withPg, withRedis } from './databases.mjs'
import { percentile } from './percentile.mjs'
import { loadAverage } from './proc.mjs'
import { settings, TARGETS } from './settings.mjs'

export async function machineInfo () {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    // Anything else running skews every number: say how busy the machine was.
    loadAtStart: loadAverage(),
    node: process.version, // the servers run on this same binary (process.execPath)
    // `wrk --version` prints its version then the usage, and exits 1.
    wrk: spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split(' [')[0],
    kernel: os.release(),
    postgres: await withPg('postgres', async (client) => (await client.query('SHOW server_version')).rows[0].server_version),
    redis: /redis_version:(\S+)/.exec(await withRedis(0, (client) => client.info('server')))[1]
  }
}

const ms = (value) => value.toFixed(2)
const int = (value) => Math.round(value).toLocaleString('en-US')
const verdict = (ok) => (ok ? 'ok' : '**over target**')

function table (headers, rows) {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`)
  ].join('\n')
}

/**
 * One row per server and endpoint: the ratio to the minimal server, and with
 * variants (a traced service, a baseline build) each one's ratio to the
 * service loaded in the same rounds.
 */
function throughputTable (rows, servers) {
  const variants = servers.length > 2
  // The median ratio over the rounds, then the quartiles: half the rounds fell between them.
  const ratio = ({ median, low, high }, flagLow) =>
    `**${median.toFixed(2)}** (${low.toFixed(2)}–${high.toFixed(2)})${flagLow && median < TARGETS.throughputRatio ? ' (low)' : ''}`
  return table(['endpoint', 'server', 'req/s', 'p50 (ms)', 'p99 (ms)', 'errors', 'ratio', ...(variants ? ['÷ service'] : []), 'server CPU/req (µs)', 'load (1 min)'],
    rows.flatMap(({ endpoint, results, toMinimal, toService, load }) => servers.map((name, index) => {
      const result = results[name]
      const isMinimal = name === 'minimal'
      return [`GET ${endpoint}`, name, int(result.rps), ms(result.p50), ms(result.p99), result.errors,
        isMinimal ? '' : ratio(toMinimal[name], name === 'service'),
        ...(variants ? [isMinimal || name === 'service' ? '' : ratio(toService[name], false)] : []),
        int(result.cpuPerRequestUs), index === 0 ? load.toFixed(2) : '']
    })))
}

export function report ({ machine, servers, throughput, growth, rss, firstStartMs, startupTimes, traced }) {
  const startupMedian = percentile(startupTimes, 0.5)
  const lines = [
    '## Machine',
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB RAM, Linux ${machine.kernel}`,
    `- Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}, ${machine.wrk}`,
    `- load average (1 min) before the run: ${machine.loadAtStart.toFixed(2)}${machine.loadAtStart > 0.5 ? ' — something else was running, numbers are skewed' : ''}; ` +
      'beside each row: the highest 1-min load seen after its rounds (the bench\'s own server, wrk, PostgreSQL and Redis account for about 2 of it)',
    `- wrk, 1 thread: ${settings.warmup} s warm-up per endpoint and server, then ${settings.rounds} interleaved rounds of ${settings.duration} s per server ` +
      `at ${settings.connections} connections and again at 1; each server's median round shown, and the median of the ratios taken within each round; wrk, servers, PostgreSQL and Redis share these cores`,
    `- servers: ${servers.join(', ')}; the service with tracing off (no OTEL_EXPORTER_OTLP_ENDPOINT)` +
      traced.map(({ name, exports, bytes }) => `; ${name}: the service with parentbased_traceidratio sampling, exporting to an OTLP/HTTP sink in the bench's process ` +
        `(${int(exports)} exports, ${(bytes / 2 ** 20).toFixed(1)} MiB)`).join('') +
      (settings.baselineDir === undefined ? '' : `; baseline: the build in ${settings.baselineDir}, tracing off`),
    '',
    `## Throughput at ${settings.connections} connections (ratio = req/s / minimal req/s, median over the rounds, quartiles in brackets, target ≥ ${TARGETS.throughputRatio} for the service${servers.length > 2 ? '; ÷ service = req/s / the service\'s' : ''})`,
    '',
    throughputTable(throughput.many, servers),
    '',
    '## Latency at 1 connection (one request at a time: the latency of an idle server)',
    '',
    throughputTable(throughput.one, servers)
  ]
  if (growth !== undefined) {
    lines.push('', `## Growth: GET /db/test p99 on the service, ${settings.connections} connections (target ratio ≤ ${TARGETS.growthRatio})`, '',
      table(['acessos rows', 'req/s', 'p50 (ms)', 'p99 (ms)', 'errors'], [
        ['0 (empty)', int(growth.empty.rps), ms(growth.empty.p50), ms(growth.empty.p99), growth.empty.errors],
        [int(settings.growthRows), int(growth.full.rps), ms(growth.full.p50), ms(growth.full.p99), growth.full.errors]
      ]), '',
      `p99 ratio ${int(settings.growthRows)} rows / empty: **${growth.ratio.toFixed(2)}** — ${verdict(growth.ratio <= TARGETS.growthRatio)}; ` +
        `counter equals count(*) afterwards: ${growth.counterExact ? 'yes' : '**no**'}`)
  }
  lines.push('', '## Resources', '',
    table(['measure', 'service', 'minimal', 'ratio', 'target', 'result'], [
      ['peak RSS after load (VmHWM, MiB)', rss.service.toFixed(1), rss.minimal.toFixed(1), (rss.service / rss.minimal).toFixed(2), `≤ ${TARGETS.rssRatio}`, verdict(rss.service / rss.minimal <= TARGETS.rssRatio)],
      ...servers.filter((name) => name !== 'service' && name !== 'minimal').map((name) => [`peak RSS of ${name} (MiB)`, rss[name].toFixed(1), '', '', '', '']),
      [`start-up to first 200 on GET / (ms, median of ${startupTimes.length})`, int(startupMedian), '', '', `≤ ${TARGETS.startupMs}`, verdict(startupMedian <= TARGETS.startupMs)]
    ]), '',
    `Start-up runs (ms): ${startupTimes.map(int).join(', ')}; the very first start, which also applied the migrations to an empty database: ${int(firstStartMs)} ms.`,
    '', `Load average (1 min) at the end: ${loadAverage().toFixed(2)}.`)
  return lines.join('\n')
}
