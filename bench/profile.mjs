// Summarises V8 CPU profiles (`node --cpu-prof`): where the sampled time went,
// by package and by function (self time), and optionally the inclusive time
// under named functions, in % and, given the number of requests served while
// profiling, in µs per request.
//
//   node bench/profile.mjs [--skip-ms 3000] [--requests N] [--top 25]
//     [--inclusive fnA,fnB] [--callers fn [--depth 3]] [--under fn] file.cpuprofile...
//
// --skip-ms leaves out the first milliseconds of each profile (start-up), so
// what remains is the steady state under load. --inclusive takes function
// names, or file:line of a function's start for anonymous callbacks (e.g.
// metrics.js:28, as compiled in dist/). --callers shows, for a function's self
// time, the chain of its --depth nearest callers (who writes?); --under keeps
// only the samples taken inside one function (what does it spend on?).
//
// See ../docs/performance.md for how the profiles are taken.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const { values: options, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    'skip-ms': { type: 'string', default: '0' },
    requests: { type: 'string' },
    top: { type: 'string', default: '25' },
    inclusive: { type: 'string', default: '' },
    callers: { type: 'string' },
    under: { type: 'string' },
    depth: { type: 'string', default: '3' }
  }
})
if (files.length === 0) {
  process.stderr.write('usage: node bench/profile.mjs [--skip-ms 3000] [--requests N] [--top 25] [--inclusive fnA,fnB] [--callers fn] [--under fn] file.cpuprofile...\n')
  process.exit(2)
}
const requests = options.requests === undefined ? undefined : Number(options.requests)
const inclusiveNames = options.inclusive.split(',').filter(Boolean)
const skipUs = Number(options['skip-ms']) * 1000

/** Where a frame's code lives: an npm package, a Node built-in, the service, or V8 itself. */
function packageOf ({ url, functionName }) {
  // No URL: V8's own buckets, C++ bindings (writev), or code compiled at run
  // time with new Function (fast-json-stringify serializers, ajv validators).
  if (url === '') return functionName.startsWith('(') ? functionName : '(native or generated)'
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (inModules) return inModules[1]
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0]
  const dist = /\/dist\/(.*)\.js$/.exec(url)
  return dist ? `service ${dist[1]}` : url
}

function frameName (frame) {
  const file = frame.url.split('/').pop() || ''
  return `${frame.functionName || '(anonymous)'} ${packageOf(frame)}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`
}

const byPackage = new Map()
const byFunction = new Map()
const inclusive = new Map(inclusiveNames.map((name) => [name, 0]))
const callers = new Map()
let totalUs = 0
let idleUs = 0

const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us)

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'))
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const matches = (frame, name) => frame.functionName === name || `${frame.url.split('/').pop()}:${frame.lineNumber + 1}` === name
  const hasAncestor = (id, name) => {
    for (; id !== undefined; id = parent.get(id)) if (matches(nodes.get(id).callFrame, name)) return true
    return false
  }
  // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
  let elapsedUs = 0
  for (let i = 0; i < profile.samples.length; i++) {
    elapsedUs += profile.timeDeltas[i]
    const us = profile.timeDeltas[i + 1] ?? 0
    if (elapsedUs < skipUs) continue
    const node = nodes.get(profile.samples[i])
    if (node.callFrame.functionName === '(idle)') { idleUs += us; continue }
    if (options.under !== undefined && !hasAncestor(node.id, options.under)) continue
    totalUs += us
    add(byPackage, packageOf(node.callFrame), us)
    add(byFunction, frameName(node.callFrame), us)
    if (node.callFrame.functionName === options.callers) {
      const chain = []
      for (let id = parent.get(node.id); id !== undefined && chain.length < Number(options.depth); id = parent.get(id)) chain.push(frameName(nodes.get(id).callFrame).replace(/ node:\S+ /, ' '))
      add(callers, chain.join(' ← '), us)
    }
    if (inclusiveNames.length > 0) {
      // Count each named function once per sample, however deep the recursion.
      const seen = new Set()
      for (let id = node.id; id !== undefined; id = parent.get(id)) {
        const frame = nodes.get(id).callFrame
        for (const name of inclusive.keys()) {
          if (!seen.has(name) && matches(frame, name)) { seen.add(name); add(inclusive, name, us) }
        }
      }
    }
  }
}

const perRequest = (us) => (requests ? ` | ${(us / requests).toFixed(1)}` : '')
const header = (what) => `| ${what} | ms | % of busy${requests ? ' | µs/request' : ''} |\n|---|---:|---:|${requests ? '---:|' : ''}`
const rows = (map, limit = Infinity) => [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)
  .map(([key, us]) => `| ${key} | ${(us / 1000).toFixed(0)} | ${((100 * us) / totalUs).toFixed(1)}${perRequest(us)} |`).join('\n')

const lines = [
  `Busy (non-idle) time sampled: ${(totalUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms` +
    (requests ? `; ${requests} requests: ${(totalUs / requests).toFixed(1)} µs busy per request` : ''),
  '', '### Self time by package', '', header('package'), rows(byPackage),
  '', `### Self time by function (top ${options.top})`, '', header('function'), rows(byFunction, Number(options.top))
]
if (inclusiveNames.length > 0) lines.push('', '### Inclusive time under', '', header('function'), rows(inclusive))
if (options.callers) lines.push('', `### Callers of ${options.callers} (self time)`, '', header('caller ← its caller ← …'), rows(callers, Number(options.top)))
process.stdout.write(lines.join('\n') + '\n')
