import t from 'tap'
import { buildApp } from '../../src/app.js'
import { ConfigSchema, loadConfig } from '../../src/config.js'
import { problems, renderAll, type Code, type K8sObject } from '../helpers/manifests.js'
import { freePort } from '../helpers/server.js'

// The app as server.ts builds it, with nothing to connect to: only its routes matter here.
const closed = String(await freePort())
const app = await buildApp(loadConfig({ DB_HOST: '127.0.0.1', DB_PORT: closed, REDIS_HOST: '127.0.0.1', REDIS_PORT: closed, LOG_LEVEL: 'silent' }))
await app.ready()
t.teardown(() => app.close())

const code: Code = {
  isSetting: (name) => Object.hasOwn(ConfigSchema.properties, name),
  serves: (path) => app.hasRoute({ method: 'GET', url: path })
}

const rendered = await renderAll()

t.test('kubectl kustomize renders the base and both overlays', async (t) => {
  t.match([...rendered.keys()].sort(), ['base', 'overlays/local', 'overlays/production'])
})

for (const [dir, objects] of rendered) {
  t.test(`${dir}: every object fits its Kubernetes schema, with no unknown field, and agrees with the code`, async (t) => {
    t.same(problems(objects, code), [])
  })
}

const local = rendered.get('overlays/local') ?? []

function one (objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name.startsWith(name))
  if (found === undefined) throw new Error(`no ${kind}/${name} rendered`)
  return found
}
const web = (objects: K8sObject[]) => one(objects, 'Deployment', 'web').spec.template.spec.containers[0]
const settings = (objects: K8sObject[]) => one(objects, 'ConfigMap', 'web-config').data

// Each check, broken on purpose in a copy of the rendered local overlay, and the problem it must report.
const breaks: Array<[string, (objects: K8sObject[]) => void, RegExp]> = [
  ['a misspelt readinessProbe', (o) => { web(o).readinesProbe = web(o).readinessProbe; delete web(o).readinessProbe }, /^Deployment\/web: unknown field spec\.template\.spec\.containers\.0\.readinesProbe$/],
  ['an unknown field in a Service', (o) => { one(o, 'Service', 'web').spec.selectr = {} }, /^Service\/web: unknown field spec\.selectr$/],
  ['a port given as a string', (o) => { web(o).ports[0].containerPort = '5000' }, /containers\/0\/ports\/0\/containerPort must be integer/],
  ['readiness on a path the app does not serve', (o) => { web(o).readinessProbe.httpGet.path = '/health/readyz' }, /readinessProbe path \/health\/readyz is not a route of the app/],
  ['liveness on the readiness path', (o) => { web(o).livenessProbe.httpGet.path = '/health/ready' }, /livenessProbe checks \/health\/ready, not \/health\/live/],
  ['a probe on another port', (o) => { web(o).startupProbe.httpGet.port = 8080 }, /startupProbe port 8080 is not PORT \(5000\)/],
  ['PORT other than the container port', (o) => { settings(o).PORT = '8080' }, /no containerPort is PORT \(8080\)/],
  ['a setting the service does not have', (o) => { settings(o).DB_PASWORD = 'x' }, /DB_PASWORD is not a setting of the service/],
  ['a setting the service refuses', (o) => { settings(o).DB_POOL_MAX = 'ten' }, /the settings do not load: .*DB_POOL_MAX must be integer/],
  ['a password file no Secret provides', (o) => { settings(o).DB_PASSWORD_FILE = '/run/secrets/db-password' }, /DB_PASSWORD_FILE is \/run\/secrets\/db-password, which no mounted Secret provides/],
  ['a Secret without the key mounted', (o) => { const secret = one(o, 'Secret', 'redis-password'); secret.data = { redis_password: secret.data.password } }, /REDIS_PASSWORD_FILE reads key password of Secret redis-password-\w+, which is not rendered/],
  ['a Deployment selector that misses its pods', (o) => { one(o, 'Deployment', 'web').spec.selector.matchLabels['app.kubernetes.io/name'] = 'webb' }, /Deployment\/web: its selector does not match its pod labels/],
  ['a Service selecting other pods', (o) => { one(o, 'Service', 'web').spec.selector['app.kubernetes.io/name'] = 'webb' }, /Service\/web: missing, or its selector does not match the web pods/],
  ['a PodDisruptionBudget selecting other pods', (o) => { one(o, 'PodDisruptionBudget', 'web').spec.selector.matchLabels['app.kubernetes.io/name'] = 'webb' }, /PodDisruptionBudget: none selects the web pods/],
  ['an HPA scaling another Deployment', (o) => { one(o, 'HorizontalPodAutoscaler', 'web').spec.scaleTargetRef.name = 'webb' }, /HorizontalPodAutoscaler: none targets Deployment\/web/],
  ['a grace period too short for delay + timeout', (o) => { one(o, 'Deployment', 'web').spec.template.spec.terminationGracePeriodSeconds = 15 }, /terminationGracePeriodSeconds \(15000 ms\) is not above SHUTDOWN_DELAY_MS \+ SHUTDOWN_TIMEOUT_MS \(15000 ms\)/],
  ['no drain delay', (o) => { delete settings(o).SHUTDOWN_DELAY_MS }, /SHUTDOWN_DELAY_MS is not set/],
  ['maxUnavailable above 0', (o) => { one(o, 'Deployment', 'web').spec.strategy.rollingUpdate.maxUnavailable = 1 }, /not a RollingUpdate with maxUnavailable 0/],
  ['a single replica', (o) => { one(o, 'HorizontalPodAutoscaler', 'web').spec.minReplicas = 1 }, /fewer than 2 replicas/],
  ['more replicas than connections', (o) => { one(o, 'HorizontalPodAutoscaler', 'web').spec.maxReplicas = 7 }, /\(maxReplicas \+ maxSurge\) x \(DB_POOL_MAX \+ 1\) = 88 exceeds the connection budget \(87\)/],
  ['a bigger pool', (o) => { settings(o).DB_POOL_MAX = '12' }, /= 91 exceeds the connection budget \(87\)/],
  ['a budget PostgreSQL does not have', (o) => { one(o, 'StatefulSet', 'db').spec.template.spec.containers[0].args[1] = 'max_connections=50' }, /budget 87 is more than StatefulSet\/db allows \(47\)/],
  ['a budget nobody wrote down', (o) => { one(o, 'HorizontalPodAutoscaler', 'web').metadata.annotations = {} }, /HorizontalPodAutoscaler\/web: no desafio3\/db-connection-budget annotation/],
  ['no spread across nodes', (o) => { delete one(o, 'Deployment', 'web').spec.template.spec.topologySpreadConstraints }, /no topology spread of its pods across nodes/],
  ['a writable root filesystem', (o) => { one(o, 'StatefulSet', 'db').spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem = false }, /StatefulSet\/db: postgres root filesystem is writable/],
  ['a pod that may run as root', (o) => { delete one(o, 'StatefulSet', 'cache').spec.template.spec.securityContext.runAsNonRoot }, /StatefulSet\/cache: runAsNonRoot is not true/],
  ['an added capability', (o) => { web(o).securityContext.capabilities.add = ['NET_ADMIN'] }, /Deployment\/web: web does not drop ALL capabilities/],
  ['no seccomp profile', (o) => { delete one(o, 'Deployment', 'web').spec.template.spec.securityContext.seccompProfile }, /Deployment\/web: seccomp profile is not RuntimeDefault/],
  ['no /tmp', (o) => { web(o).volumeMounts = web(o).volumeMounts.filter((mount: any) => mount.mountPath !== '/tmp') }, /Deployment\/web: web has no emptyDir at \/tmp/],
  ['no liveness probe', (o) => { delete web(o).livenessProbe }, /Deployment\/web: web has no livenessProbe/],
  ['PostgreSQL without a volume', (o) => { delete one(o, 'StatefulSet', 'db').spec.volumeClaimTemplates }, /StatefulSet\/db: no volumeClaimTemplates/],
  ['Redis without its append-only file', (o) => { one(o, 'StatefulSet', 'cache').spec.template.spec.containers[0].command.splice(2, 2) }, /StatefulSet\/cache: Redis runs without its append-only file/],
  ['no default deny', (o) => { o.splice(o.indexOf(one(o, 'NetworkPolicy', 'default-deny')), 1) }, /NetworkPolicy: no default deny of ingress and egress/],
  ['web closed on its port', (o) => { one(o, 'NetworkPolicy', 'web-ingress').spec.ingress[0].ports[0].port = 8080 }, /nothing lets traffic into web on PORT \(5000\)/],
  ['web cut off from PostgreSQL', (o) => { one(o, 'NetworkPolicy', 'web-egress').spec.egress[0].ports[0].port = 5433 }, /web may not reach db on 5432/],
  ['web egress to pods that are not Redis', (o) => { one(o, 'NetworkPolicy', 'web-egress').spec.egress[1].to[0].podSelector.matchLabels['app.kubernetes.io/name'] = 'redis' }, /web's egress on 6379 does not select StatefulSet\/cache's pods/],
  ['web without DNS', (o) => { one(o, 'NetworkPolicy', 'web-egress').spec.egress.splice(2, 1) }, /web may not reach DNS/],
  ['DB_HOST naming no Service of PostgreSQL', (o) => { settings(o).DB_HOST = 'postgres' }, /Service\/postgres: DB_HOST is no Service of StatefulSet\/db/]
]

for (const [what, mutate, expected] of breaks) {
  t.test(`a broken manifest is rejected: ${what}`, async (t) => {
    const broken = structuredClone(local)
    mutate(broken)
    const found = problems(broken, code)
    t.ok(found.some((problem) => expected.test(problem)), `reports ${expected}; got:\n${found.join('\n')}`)
  })
}
