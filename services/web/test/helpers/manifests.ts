import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix } from 'node:path'
import { promisify } from 'node:util'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1'
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1'
import { loadConfig } from '../../src/config.js'
import { kubectl } from './kubectl.js'
import { SERVICE_ROOT } from './server.js'

const run = promisify(execFile)

/** Where the manifests live. */
const KUBERNETES = join(SERVICE_ROOT, '../../deploy/kubernetes')
// The annotation on the HPA that states PostgreSQL's connection budget.
const BUDGET_ANNOTATION = 'desafio3/db-connection-budget'

export type K8sObject = { apiVersion: string, kind: string, metadata: { name: string, annotations?: Record<string, string> } } & Record<string, any>

/**
 * Renders `base` and every overlay with the pinned kubectl's kustomize, from a
 * copy of the manifests in which each generated Secret's missing file holds a
 * throwaway value (the real ones are never in git). Keys are folder names
 * relative to deploy/kubernetes.
 */
export async function renderAll (): Promise<Map<string, K8sObject[]>> {
  const binary = await kubectl()
  const top = await mkdtemp(join(tmpdir(), 'web-kustomize-'))
  try {
    // The overlays read these two folders: the manifests and the cache's start.sh.
    // Real passwords a developer keeps in a secrets/ folder stay where they are.
    await cp(KUBERNETES, join(top, 'deploy/kubernetes'), { recursive: true, filter: (source) => basename(source) !== 'secrets' })
    await cp(join(KUBERNETES, '../../services/cache'), join(top, 'services/cache'), { recursive: true })
    const dirs = ['base', ...(await readdir(join(KUBERNETES, 'overlays'))).map((name) => `overlays/${name}`)]
    const rendered = new Map<string, K8sObject[]>()
    for (const dir of dirs) {
      const root = join(top, 'deploy/kubernetes', dir)
      await fillSecretFiles(root)
      const { stdout } = await run(binary, ['kustomize', root], { maxBuffer: 16 * 1024 * 1024 })
      rendered.set(dir, parseAllDocuments(stdout).map((document) => document.toJS() as K8sObject))
    }
    return rendered
  } finally {
    await rm(top, { recursive: true, force: true })
  }
}

async function fillSecretFiles (root: string): Promise<void> {
  const kustomization = parse(await readFile(join(root, 'kustomization.yaml'), 'utf8'))
  for (const generator of kustomization.secretGenerator ?? []) {
    for (const entry of (generator.files ?? []) as string[]) {
      const file = join(root, entry.replace(/^[^=]*=/, ''))
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, 'throwaway\n', { flag: 'wx' }).catch((error) => { if (error.code !== 'EEXIST') throw error })
    }
  }
}

/** What the manifests are checked against in the service's code. */
export interface Code {
  /** True when the service reads this environment variable. */
  isSetting: (name: string) => boolean
  /** True when the app answers GET on this path. */
  serves: (path: string) => boolean
}

// The validate function kubernetes-models compiled from each kind's OpenAPI schema.
const MODELS: Record<string, { prototype: { validate: () => void } }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy
}

/**
 * Every problem found in one rendered overlay, as `Kind/name: what`; none means
 * it passes. Schema first, then what the service's code and the issue require.
 */
export function problems (objects: K8sObject[], code: Code): string[] {
  return [
    ...objects.flatMap(schemaProblems),
    ...objects.filter(hasPodTemplate).flatMap(securityProblems),
    ...webProblems(objects, code)
  ]
}

/**
 * The OpenAPI schema, plus unknown fields, which it lets through (it has no
 * `additionalProperties: false`). The compiled validator reads every field the
 * schema defines and every entry of a map; any field it never read is one the
 * schema does not have, as the API server's strict field validation would say.
 */
function schemaProblems (object: K8sObject): string[] {
  const where = `${object.kind}/${object.metadata?.name}`
  const model = MODELS[`${object.apiVersion}/${object.kind}`]
  if (model === undefined) return [`${where}: no schema known for ${object.apiVersion} ${object.kind}`]
  const read = new Set<string>()
  try {
    model.prototype.validate.call(tracked(object, '', read))
  } catch (error) {
    return [`${where}: ${(error as Error).message}`]
  }
  return unread(object, '', read).map((path) => `${where}: unknown field ${path}`)
}

function tracked (value: unknown, path: string, read: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value
  return new Proxy(value, {
    get (target, key, receiver) {
      if (typeof key !== 'string' || !Object.hasOwn(target, key)) return Reflect.get(target, key, receiver)
      read.add(`${path}/${key}`)
      return tracked(Reflect.get(target, key, receiver), `${path}/${key}`, read)
    }
  })
}

function unread (value: unknown, path: string, read: Set<string>): string[] {
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, child]) => {
    const at = `${path}/${key}`
    return read.has(at) ? unread(child, at, read) : [at.slice(1).replaceAll('/', '.')]
  })
}

function hasPodTemplate (object: K8sObject): boolean {
  return object.kind === 'Deployment' || object.kind === 'StatefulSet'
}

// Every workload: the restricted Pod Security profile, the three probes,
// resources, an emptyDir /tmp; a StatefulSet its volume, Redis its append-only file.
function securityProblems (workload: K8sObject): string[] {
  const where = `${workload.kind}/${workload.metadata.name}`
  const pod = workload.spec.template.spec
  const found: string[] = []
  if (pod.securityContext?.runAsNonRoot !== true) found.push(`${where}: runAsNonRoot is not true`)
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') found.push(`${where}: seccomp profile is not RuntimeDefault`)
  for (const container of pod.containers) {
    const context = container.securityContext ?? {}
    if (context.allowPrivilegeEscalation !== false) found.push(`${where}: ${container.name} allows privilege escalation`)
    if (context.readOnlyRootFilesystem !== true) found.push(`${where}: ${container.name} root filesystem is writable`)
    if (!(context.capabilities?.drop ?? []).includes('ALL') || (context.capabilities?.add ?? []).length > 0) {
      found.push(`${where}: ${container.name} does not drop ALL capabilities`)
    }
    if (container.resources?.requests === undefined || container.resources?.limits?.memory === undefined) {
      found.push(`${where}: ${container.name} has no resource requests or memory limit`)
    }
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      if (container[probe] === undefined) found.push(`${where}: ${container.name} has no ${probe}`)
    }
    if (!container.volumeMounts?.some((mount: any) => mount.mountPath === '/tmp' && pod.volumes?.some((volume: any) => volume.name === mount.name && volume.emptyDir !== undefined))) {
      found.push(`${where}: ${container.name} has no emptyDir at /tmp`)
    }
  }
  if (workload.kind === 'StatefulSet' && (workload.spec.volumeClaimTemplates ?? []).length === 0) {
    found.push(`${where}: no volumeClaimTemplates, so its data dies with the pod`)
  }
  const redis = pod.containers.find((container: any) => container.image?.startsWith('redis:'))
  if (redis !== undefined && !/--appendonly yes\b/.test([...redis.command ?? [], ...redis.args ?? []].join(' '))) {
    found.push(`${where}: Redis runs without its append-only file`)
  }
  return found
}

function find (objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((object) => object.kind === kind && (name === undefined || object.metadata.name === name))
}

function selects (selector: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value)
}

// What the web Deployment and the objects around it must agree on with the code.
function webProblems (objects: K8sObject[], code: Code): string[] {
  const [deployment] = find(objects, 'Deployment', 'web')
  if (deployment === undefined) return ['Deployment/web: missing']
  const pod = deployment.spec.template
  const labels: Record<string, string> = pod.metadata?.labels ?? {}
  const container = pod.spec.containers.find((candidate: any) => candidate.name === 'web')
  if (container === undefined) return ['Deployment/web: no container named web']
  const found: string[] = []

  // The settings: ConfigMaps through envFrom, plus plain env values.
  const settings: Record<string, string> = {}
  for (const source of container.envFrom ?? []) {
    const [configMap] = find(objects, 'ConfigMap', source.configMapRef?.name)
    if (configMap === undefined) found.push(`Deployment/web: envFrom names ConfigMap ${source.configMapRef?.name}, which is not rendered`)
    else Object.assign(settings, configMap.data)
  }
  for (const variable of container.env ?? []) settings[variable.name] = variable.value
  for (const name of Object.keys(settings)) {
    if (!code.isSetting(name)) found.push(`Deployment/web: ${name} is not a setting of the service (src/config.ts)`)
  }
  // Password files are checked below against the mounts; every other value must load.
  const loadable = Object.fromEntries(Object.entries(settings).filter(([name]) => !name.endsWith('_FILE')))
  let config
  try {
    config = loadConfig(loadable)
  } catch (error) {
    return [...found, `Deployment/web: the settings do not load: ${(error as Error).message}`]
  }

  if (!(container.ports ?? []).some((port: any) => port.containerPort === config.PORT)) {
    found.push(`Deployment/web: no containerPort is PORT (${config.PORT})`)
  }
  const portNamed = (port: number | string) => typeof port === 'number' ? port : container.ports?.find((candidate: any) => candidate.name === port)?.containerPort

  const expected: Record<string, string> = { startupProbe: '/health/live', livenessProbe: '/health/live', readinessProbe: '/health/ready' }
  for (const [probe, path] of Object.entries(expected)) {
    const action = container[probe]?.httpGet
    if (action === undefined) continue
    if (action.path !== path) found.push(`Deployment/web: ${probe} checks ${action.path}, not ${path}`)
    if (!code.serves(action.path)) found.push(`Deployment/web: ${probe} path ${action.path} is not a route of the app`)
    if (portNamed(action.port) !== config.PORT) found.push(`Deployment/web: ${probe} port ${action.port} is not PORT (${config.PORT})`)
  }

  // Each *_FILE must be a file a mounted Secret provides, and a rendered Secret must hold its key.
  const files = new Map<string, { secret: string, key: string }>()
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.spec.volumes?.find((candidate: any) => candidate.name === mount.name)
    const secrets = volume?.secret !== undefined
      ? [{ name: volume.secret.secretName, items: volume.secret.items }]
      : (volume?.projected?.sources ?? []).flatMap((source: any) => source.secret ?? [])
    for (const secret of secrets) {
      for (const item of secret.items ?? []) files.set(posix.join(mount.mountPath, item.path), { secret: secret.name, key: item.key })
    }
  }
  for (const [name, path] of Object.entries(settings).filter(([name]) => name.endsWith('_FILE'))) {
    const file = files.get(path)
    if (file === undefined) {
      found.push(`Deployment/web: ${name} is ${path}, which no mounted Secret provides`)
      continue
    }
    const [secret] = find(objects, 'Secret', file.secret)
    if (find(objects, 'Secret').length > 0 && secret?.data?.[file.key] === undefined) {
      found.push(`Deployment/web: ${name} reads key ${file.key} of Secret ${file.secret}, which is not rendered`)
    }
  }

  if (!selects(deployment.spec.selector, labels)) found.push('Deployment/web: its selector does not match its pod labels')
  const [service] = find(objects, 'Service', 'web')
  if (service === undefined || !selects({ matchLabels: service.spec.selector }, labels)) found.push('Service/web: missing, or its selector does not match the web pods')
  else if (!service.spec.ports.some((port: any) => portNamed(port.targetPort ?? port.port) === config.PORT)) found.push('Service/web: no port targets PORT')
  if (!find(objects, 'PodDisruptionBudget').some((pdb) => selects(pdb.spec.selector, labels))) found.push('PodDisruptionBudget: none selects the web pods')
  if (!(pod.spec.topologySpreadConstraints ?? []).some((constraint: any) => constraint.topologyKey === 'kubernetes.io/hostname' && selects(constraint.labelSelector, labels))) {
    found.push('Deployment/web: no topology spread of its pods across nodes')
  }

  const rollout = deployment.spec.strategy
  if (rollout?.type !== 'RollingUpdate' || ![0, '0%'].includes(rollout.rollingUpdate?.maxUnavailable)) {
    found.push('Deployment/web: not a RollingUpdate with maxUnavailable 0')
  }
  const delay = Number(settings.SHUTDOWN_DELAY_MS ?? 0)
  const grace = (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000
  if (!(delay > 0)) found.push('Deployment/web: SHUTDOWN_DELAY_MS is not set, so a rollout drops requests')
  if (grace <= delay + config.SHUTDOWN_TIMEOUT_MS) {
    found.push(`Deployment/web: terminationGracePeriodSeconds (${grace} ms) is not above SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS (${delay + config.SHUTDOWN_TIMEOUT_MS} ms)`)
  }

  const [hpa] = find(objects, 'HorizontalPodAutoscaler').filter((candidate) => {
    const target = candidate.spec.scaleTargetRef
    return target.apiVersion === 'apps/v1' && target.kind === 'Deployment' && target.name === 'web'
  })
  if (hpa === undefined) return [...found, 'HorizontalPodAutoscaler: none targets Deployment/web']
  if ((hpa.spec.minReplicas ?? 1) < 2 || (deployment.spec.replicas ?? 2) < 2) found.push('Deployment/web: fewer than 2 replicas')
  const surge = rollout?.rollingUpdate?.maxSurge ?? '25%'
  const peak = hpa.spec.maxReplicas + (typeof surge === 'number' ? surge : Math.ceil(hpa.spec.maxReplicas * parseInt(surge) / 100))
  const needed = peak * (config.DB_POOL_MAX + 1)
  const budget = Number(hpa.metadata.annotations?.[BUDGET_ANNOTATION] ?? NaN)
  if (Number.isNaN(budget)) found.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: no ${BUDGET_ANNOTATION} annotation stating PostgreSQL's connection budget`)
  else if (needed > budget) {
    found.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: (maxReplicas + maxSurge) x (DB_POOL_MAX + 1) = ${needed} exceeds the connection budget (${budget})`)
  }
  // With PostgreSQL in the overlay, the budget must fit its own max_connections.
  for (const db of find(objects, 'StatefulSet', 'db')) {
    const args: string = (db.spec.template.spec.containers[0].args ?? []).join(' ')
    const setting = (name: string, fallback: number) => Number(args.match(new RegExp(`\\b${name}=(\\d+)`))?.[1] ?? fallback)
    const usable = setting('max_connections', 100) - setting('superuser_reserved_connections', 3)
    if (budget > usable) found.push(`HorizontalPodAutoscaler/${hpa.metadata.name}: budget ${budget} is more than StatefulSet/db allows (${usable})`)
  }

  return [...found, ...networkProblems(objects, labels, config)]
}

// Default deny; web reachable on PORT; web reaches PostgreSQL, Redis and DNS.
function networkProblems (objects: K8sObject[], labels: Record<string, string>, config: ReturnType<typeof loadConfig>): string[] {
  const policies = find(objects, 'NetworkPolicy')
  const found: string[] = []
  const denyAll = policies.some(({ spec }) => Object.keys(spec.podSelector?.matchLabels ?? {}).length === 0 &&
    spec.podSelector?.matchExpressions === undefined && spec.policyTypes?.includes('Ingress') &&
    spec.policyTypes?.includes('Egress') && spec.ingress === undefined && spec.egress === undefined)
  if (!denyAll) found.push('NetworkPolicy: no default deny of ingress and egress')
  const web = policies.filter(({ spec }) => selects(spec.podSelector, labels))
  const ingress = web.flatMap(({ spec }) => spec.ingress ?? [])
  if (!ingress.some((rule: any) => rule.ports?.some((port: any) => port.port === config.PORT))) found.push(`NetworkPolicy: nothing lets traffic into web on PORT (${config.PORT})`)
  const egress = web.flatMap(({ spec }) => spec.egress ?? [])
  const allows = (port: number, protocol = 'TCP') => egress.filter((rule: any) => rule.ports?.some((allowed: any) => allowed.port === port && (allowed.protocol ?? 'TCP') === protocol))
  if (allows(53, 'UDP').length === 0) found.push('NetworkPolicy: web may not reach DNS (53/UDP)')
  for (const [name, port] of [['db', config.DB_PORT], ['cache', config.REDIS_PORT]] as const) {
    const rules = allows(port)
    if (rules.length === 0) found.push(`NetworkPolicy: web may not reach ${name} on ${port}`)
    // With the dependency in the overlay, the rule must select its pods.
    for (const workload of find(objects, 'StatefulSet', name)) {
      const podLabels = workload.spec.template.metadata.labels
      if (!rules.some((rule: any) => rule.to?.some((peer: any) => peer.namespaceSelector === undefined && selects(peer.podSelector, podLabels)))) {
        found.push(`NetworkPolicy: web's egress on ${port} does not select StatefulSet/${name}'s pods`)
      }
      const host = name === 'db' ? config.DB_HOST : config.REDIS_HOST
      if (!find(objects, 'Service', host).some((service) => selects({ matchLabels: service.spec.selector }, podLabels))) {
        found.push(`Service/${host}: ${name === 'db' ? 'DB_HOST' : 'REDIS_HOST'} is no Service of StatefulSet/${name}`)
      }
    }
  }
  return found
}
