import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { TRACE_ID_LABEL } from '../../src/plugins/app/metrics.js'
import { composeDocument } from '../helpers/compose.js'
import { SERVICE_ROOT } from '../helpers/server.js'

// The trace backend of the monitoring profile (Jaeger) cannot be pulled here, so
// its wiring is checked offline, file against file: the endpoint make monitoring
// gives web reaches Jaeger's OTLP/HTTP receiver, the receiver feeds a bounded
// store the query API reads, Grafana's Jaeger datasource asks that API, and
// Prometheus keeps the exemplars whose label Grafana follows to a trace.

const TOP = join(SERVICE_ROOT, '..', '..')

interface Wiring {
  makefile: string
  compose: any
  jaeger: any
  datasources: { prometheus: any, jaeger: any }
  dashboard: any
}

async function readWiring (): Promise<Wiring> {
  const read = async (...path: string[]) => await readFile(join(TOP, ...path), 'utf8')
  const datasource = async (name: string) => parse(await read('monitoring', 'grafana', 'provisioning', 'datasources', `${name}.yaml`)).datasources[0]
  return {
    makefile: await read('Makefile'),
    compose: await composeDocument(),
    jaeger: parse(await read('monitoring', 'jaeger', 'config.yaml')),
    datasources: { prometheus: await datasource('prometheus'), jaeger: await datasource('jaeger') },
    dashboard: JSON.parse(await read('monitoring', 'grafana', 'dashboards', 'web.json'))
  }
}

const portOf = (endpoint: unknown) => String(endpoint ?? '').split(':').pop()
const shareNetwork = (a: { networks?: string[] }, b: { networks?: string[] }) => (a.networks ?? []).some((network) => (b.networks ?? []).includes(network))

/** What is wrong with the wiring, in words; empty when every file agrees with the others. */
function problems ({ makefile, compose, jaeger, datasources, dashboard }: Wiring): string[] {
  const found: string[] = []
  const { services } = compose
  const service = services.jaeger
  if (service?.profiles?.includes('monitoring') !== true) return ['compose.yaml has no jaeger service in the profile monitoring']
  if (services.web.profiles !== undefined) found.push('web must not be limited to a profile')

  // What web is given in the profile, and only there.
  const endpoint = makefile.match(/^monitoring:.*\n\t@OTEL_EXPORTER_OTLP_ENDPOINT="\$\$\{OTEL_EXPORTER_OTLP_ENDPOINT:-(\S+)\}" scripts\/up\.sh \$@ --profile monitoring$/m)?.[1]
  if (endpoint === undefined) return [...found, 'make monitoring does not set OTEL_EXPORTER_OTLP_ENDPOINT for web']
  if (!(services.web.environment && 'OTEL_EXPORTER_OTLP_ENDPOINT' in services.web.environment) || services.web.environment.OTEL_EXPORTER_OTLP_ENDPOINT !== null) {
    found.push('web must take OTEL_EXPORTER_OTLP_ENDPOINT from the shell, with no value of its own')
  }
  const url = new URL(endpoint)
  if (url.hostname !== 'jaeger') found.push(`make monitoring sends traces to ${url.hostname}, not to the jaeger service`)
  if (!shareNetwork(services.web, service)) found.push('web and jaeger share no network')

  // Jaeger reads the config file the repository holds.
  const configAt = service.command?.[service.command.indexOf('--config') + 1]
  if (!(service.volumes ?? []).includes(`./monitoring/jaeger/config.yaml:${String(configAt)}:ro`)) found.push('jaeger does not run monitoring/jaeger/config.yaml')

  // Its pipeline: OTLP/HTTP on the port web is given, into a bounded store the query API reads.
  const pipeline = jaeger.service?.pipelines?.traces ?? {}
  for (const kind of ['receivers', 'processors', 'exporters'] as const) {
    for (const name of pipeline[kind] ?? []) if (!(name in (jaeger[kind] ?? {}))) found.push(`the traces pipeline names ${kind.slice(0, -1)} ${name}, which is not configured`)
  }
  for (const name of jaeger.service?.extensions ?? []) if (!(name in (jaeger.extensions ?? {}))) found.push(`extension ${name} is not configured`)
  if (!(pipeline.receivers ?? []).includes('otlp')) found.push('the traces pipeline does not receive OTLP')
  else if (portOf(jaeger.receivers.otlp.protocols?.http?.endpoint) !== (url.port || '80')) found.push(`Jaeger's OTLP/HTTP receiver does not listen on port ${url.port}`)
  else if (!String(jaeger.receivers.otlp.protocols.http.endpoint).startsWith('0.0.0.0:')) found.push('Jaeger\'s OTLP/HTTP receiver listens on loopback only')
  const store = jaeger.exporters?.jaeger_storage_exporter?.trace_storage
  const backend = jaeger.extensions?.jaeger_storage?.backends?.[store]
  if (!(pipeline.exporters ?? []).includes('jaeger_storage_exporter') || backend === undefined) found.push('the traces pipeline stores into no configured backend')
  else if (!(backend.memory?.max_traces > 0)) found.push('the in-memory store is not bounded by max_traces')
  if (jaeger.extensions?.jaeger_query?.storage?.traces !== store) found.push('the query API does not read the store the pipeline writes')

  // Grafana asks that API, and follows an exemplar's trace id to it.
  const query = new URL(datasources.jaeger.url)
  if (datasources.jaeger.type !== 'jaeger' || query.hostname !== 'jaeger' || query.port !== portOf(jaeger.extensions?.jaeger_query?.http?.endpoint)) {
    found.push(`Grafana's Jaeger datasource (${datasources.jaeger.url}) is not Jaeger's query API`)
  }
  if (!shareNetwork(services.grafana, service)) found.push('grafana and jaeger share no network')
  const destinations = datasources.prometheus.jsonData?.exemplarTraceIdDestinations ?? []
  if (!destinations.some((destination: { name: string, datasourceUid: string }) => destination.name === TRACE_ID_LABEL && destination.datasourceUid === datasources.jaeger.uid)) {
    found.push(`the Prometheus datasource does not link the exemplar label ${TRACE_ID_LABEL} to the Jaeger datasource`)
  }
  if (!(services.prometheus.command ?? []).includes('--enable-feature=exemplar-storage')) found.push('Prometheus does not store exemplars')
  const latency = dashboard.panels.find((panel: { title: string }) => panel.title.startsWith('Latency'))
  if (!(latency?.targets ?? []).every((target: { exemplar?: boolean }) => target.exemplar === true)) found.push('the latency panel does not show exemplars')
  return found
}

t.test('make monitoring traces web into the profile\'s Jaeger, which Grafana reads, and exemplars lead there', async (t) => {
  const wiring = await readWiring()
  t.same(problems(wiring), [])

  const broken: Array<[string, (wiring: Wiring) => void, RegExp]> = [
    ['the OTLP/gRPC port instead', (w) => { w.makefile = w.makefile.replace('http://jaeger:4318', 'http://jaeger:4317') }, /does not listen on port 4317/],
    ['tracing left off', (w) => { w.makefile = w.makefile.replace(/@OTEL_EXPORTER_OTLP_ENDPOINT=\S+ /, '@') }, /does not set OTEL_EXPORTER_OTLP_ENDPOINT/],
    ['an endpoint set in compose.yaml, so every stack would trace', (w) => { w.compose.services.web.environment.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://jaeger:4318' }, /no value of its own/],
    ['a receiver on loopback', (w) => { w.jaeger.receivers.otlp.protocols.http.endpoint = 'localhost:4318' }, /loopback only/],
    ['an unbounded store', (w) => { delete w.jaeger.extensions.jaeger_storage.backends.memstore.memory.max_traces }, /not bounded/],
    ['the query API on another store', (w) => { w.jaeger.extensions.jaeger_query.storage.traces = 'elsewhere' }, /does not read the store/],
    ['a pipeline naming an unconfigured processor', (w) => { w.jaeger.service.pipelines.traces.processors.push('memory_limiter') }, /processor memory_limiter/],
    ['Grafana asking the OTLP port', (w) => { w.datasources.jaeger.url = 'http://jaeger:4318' }, /is not Jaeger's query API/],
    ['exemplars labelled otherwise', (w) => { w.datasources.prometheus.jsonData.exemplarTraceIdDestinations[0].name = 'traceID' }, /exemplar label trace_id/],
    ['Prometheus without exemplar storage', (w) => { w.compose.services.prometheus.command.pop() }, /does not store exemplars/],
    ['jaeger out of Grafana\'s network', (w) => { w.compose.services.jaeger.networks = ['frontend'] }, /grafana and jaeger share no network/]
  ]
  for (const [what, breakIt, expected] of broken) {
    t.test(`negative control: ${what} is caught`, async (t) => {
      const mutated = await readWiring()
      breakIt(mutated)
      t.match(problems(mutated).join('\n'), expected)
    })
  }
})
