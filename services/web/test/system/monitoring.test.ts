import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:fs'
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { buildTestApp } from '../helpers/app.js'
import { endpoints } from '../helpers/endpoints.js'
import { SERVICE_ROOT } from '../helpers/server.js'

// The monitoring profile's images cannot be pulled here, so what can be checked
// offline is checked: the dashboard queries only series the service exposes,
// Prometheus accepts its config, compose accepts the profile.

const run = promisify(execFile)
const TOP = join(SERVICE_ROOT, '..', '..')
const MONITORING = join(TOP, 'monitoring')
const DASHBOARD = join(MONITORING, 'grafana', 'dashboards', 'web.json')

interface Panel {
  title: string
  datasource?: { uid: string }
  targets?: Array<{ expr: string }>
  panels?: Panel[]
}

/** Every PromQL expression of a dashboard, rows' nested panels included. */
function expressions (panels: Panel[]): string[] {
  return panels.flatMap((panel) => [...(panel.targets ?? []).map((target) => target.expr), ...expressions(panel.panels ?? [])])
}

// group_left and group_right may also stand without a label list.
const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'group_left', 'group_right', 'inf', 'nan'])

/**
 * The metric names a PromQL expression selects. What is left once strings,
 * label matchers, ranges, grouping label lists, numbers and Grafana variables
 * are gone is functions (followed by a parenthesis), keywords and metric names.
 */
function metricNames (expr: string): string[] {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
  for (const [, name] of rest.matchAll(/([a-zA-Z_:][\w:]*)?\s*\{[^}]*\}/g)) {
    // {__name__=~"…"} could match anything: the check could not vouch for it.
    if (name === undefined) throw new Error(`a selector without a metric name: ${expr}`)
  }
  rest = rest
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/(?<![\w:])\d[\w.]*/g, ' ')
  return [...rest.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)]
    .filter(([, name, call]) => call === undefined && !PROMQL_KEYWORDS.has(name!.toLowerCase()))
    .map(([, name]) => name!)
}

/** Names of the series a Prometheus text exposition holds: a histogram shows as its _bucket, _sum and _count. */
function exposedSeries (text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.match(/^[a-zA-Z_:][\w:]*/)![0]))
}

/** The names a dashboard queries that the exposition lacks. */
function missingSeries (dashboard: { panels: Panel[] }, exposed: Set<string>): string[] {
  const names = new Set(expressions(dashboard.panels).flatMap(metricNames))
  return [...names].filter((name) => !exposed.has(name)).sort()
}

async function readDashboard (): Promise<{ panels: Panel[] }> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8'))
}

/** /metrics of an app that has answered every endpoint and an unknown route, so every labelled series exists. */
async function exercisedMetrics (t: Test): Promise<Set<string>> {
  const { app } = await buildTestApp(t)
  for (const { url } of endpoints) t.equal((await app.inject(url)).statusCode, 200, `GET ${url}`)
  t.equal((await app.inject('/nowhere')).statusCode, 404)
  return exposedSeries((await app.inject('/metrics')).body)
}

t.test('PromQL metric names are read from the selectors only', async (t) => {
  t.same(metricNames('sum by (route, le) (rate(http_request_duration_seconds_bucket{job="web", route=~"/db/.*"}[$__rate_interval]))'),
    ['http_request_duration_seconds_bucket'], 'not functions, grouping labels, label values or variables')
  t.same(metricNames('histogram_quantile(0.99, sum(rate(a_bucket[5m] offset 1h)) by (le)) / on (instance) group_left b > bool 1e3'),
    ['a_bucket', 'b'], 'not numbers, durations or keywords')
  t.same(metricNames('up'), ['up'])
  t.throws(() => metricNames('{__name__=~"db_.*"}'), /a selector without a metric name/)
})

t.test('every series the dashboard queries is exposed by /metrics', async (t) => {
  const dashboard = await readDashboard()
  const exposed = await exercisedMetrics(t)
  t.same(missingSeries(dashboard, exposed), [], 'no panel queries a series the service lacks')

  // What the dashboard is for, so a panel cannot quietly disappear.
  const queried = new Set(expressions(dashboard.panels).flatMap(metricNames))
  for (const name of [
    'http_request_duration_seconds_count', 'http_request_duration_seconds_bucket', 'db_pool_connections',
    'db_pool_waiting_requests', 'redis_connected', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds'
  ]) t.ok(queried.has(name), `the dashboard shows ${name}`)

  t.test('negative control: a panel naming a series the service lacks is rejected', async (t) => {
    const mutated = structuredClone(dashboard)
    mutated.panels[0]!.targets![0]!.expr = 'sum by (route) (rate(http_requests_total{job="web"}[$__rate_interval]))'
    t.same(missingSeries(mutated, exposed), ['http_requests_total'])
  })

  t.test('negative control: a histogram is queried through its _bucket, _sum and _count, never its bare name', async (t) => {
    const mutated = structuredClone(dashboard)
    mutated.panels[0]!.targets![0]!.expr = 'rate(http_request_duration_seconds{job="web"}[5m])'
    t.same(missingSeries(mutated, exposed), ['http_request_duration_seconds'])
  })
})

t.test('every panel asks the provisioned Prometheus datasource', async (t) => {
  const provisioned = await readFile(join(MONITORING, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')
  const uid = provisioned.match(/^\s+uid:\s*(\S+)$/m)?.[1]
  t.ok(uid, 'the datasource has a fixed uid')
  for (const panel of (await readDashboard()).panels) t.equal(panel.datasource?.uid, uid, panel.title)
})

/**
 * promtool from Debian's prometheus package. Not installed with apt-get: the
 * package's scripts would start a Prometheus server on this machine. Its
 * promtool is unpacked into .cache/ (ignored by git) instead, so make test and
 * CI get it from Debian's packages as they run. Missing, it fails the checks
 * that need it, naming it: they never pass unrun.
 */
async function findPromtool (t: Test): Promise<string> {
  const cached = join(TOP, '.cache', 'prometheus', 'usr', 'bin', 'promtool')
  for (const candidate of ['/usr/bin/promtool', cached]) {
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  const download = await mkdtemp(join(tmpdir(), 'web-test-prometheus-'))
  try {
    t.comment('promtool is missing: unpacking it from Debian\'s prometheus package into .cache/prometheus')
    // A fresh machine may not have the package lists yet.
    await run('apt-get', ['download', 'prometheus'], { cwd: download })
      .catch(async () => {
        await run('apt-get', ['update'])
        await run('apt-get', ['download', 'prometheus'], { cwd: download })
      })
    const [deb] = await readdir(download)
    await run('dpkg-deb', ['-x', join(download, deb!), join(TOP, '.cache', 'prometheus')])
    return cached
  } catch (error) {
    throw new Error(`promtool is missing and could not be unpacked from Debian's prometheus package (apt-get download prometheus; dpkg-deb -x): ${(error as Error).message}`)
  } finally {
    await rm(download, { recursive: true, force: true })
  }
}

t.test('promtool check config accepts the Prometheus config', async (t) => {
  const promtool = await findPromtool(t)
  const config = join(MONITORING, 'prometheus', 'prometheus.yml')
  const { stdout } = await run(promtool, ['check', 'config', config])
  t.match(stdout, /SUCCESS/, 'promtool accepts it')

  t.test('negative control: promtool rejects a config it cannot parse', async (t) => {
    const broken = join(t.testdir(), 'prometheus.yml')
    await writeFile(broken, (await readFile(config, 'utf8')).replace('scrape_interval: 15s', 'scrape_interval: fifteen'))
    await t.rejects(run(promtool, ['check', 'config', broken]), /not a valid duration string/)
  })
})

/** What `promtool check metrics` reports on `exposition`, whatever its exit code (3 when it only lints). */
async function checkMetrics (promtool: string, exposition: string): Promise<string> {
  const child = spawn(promtool, ['check', 'metrics'])
  let report = ''
  child.stdout.on('data', (chunk: Buffer) => { report += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { report += chunk.toString() })
  child.stdin.end(exposition)
  await once(child, 'close')
  return report
}

t.test('promtool parses /metrics, the duration histogram included', async (t) => {
  const promtool = await findPromtool(t)
  const { app } = await buildTestApp(t)
  for (const url of ['/', '/cache/test', '/nowhere']) await app.inject(url)
  const exposition = (await app.inject('/metrics')).body
  t.match(exposition, 'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/cache/test",status_code="200"} 1')
  const problems = (await checkMetrics(promtool, exposition)).split('\n').filter(Boolean)
  // prom-client names a few of its process gauges *_total, which promtool's
  // lint flags; nothing else may be reported.
  t.same(problems.filter((line) => !/^nodejs_\w+_total non-counter metrics should not have "_total" suffix$/.test(line)), [])

  t.test('negative control: promtool reports a series it cannot parse', async (t) => {
    t.match(await checkMetrics(promtool, exposition.replace('le="+Inf",', 'le="+Inf" ')), /text format parsing error/)
  })
})

t.test('compose accepts the monitoring profile', async (t) => {
  await run('docker', ['compose', 'version']).catch((error: Error) => {
    throw new Error(`docker compose is missing, so the monitoring profile cannot be checked: ${error.message}`)
  })
  const { stdout } = await run('docker', ['compose', '--profile', 'monitoring', 'config', '--services'], { cwd: TOP })
  t.same(stdout.split('\n').filter(Boolean).sort(), ['cache', 'db', 'grafana', 'jaeger', 'prometheus', 'web'])
  await t.resolves(run('docker', ['compose', '--profile', 'monitoring', 'config', '-q'], { cwd: TOP }))
})
