import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** The stack's compose.yaml, at the top of the repository: what ships, read rather than copied. */
export const COMPOSE_FILE = fileURLToPath(new URL('../../../../compose.yaml', import.meta.url))

interface ComposeService {
  command?: string[]
  stop_grace_period?: string
}

/** compose.yaml as data, for tests that compare what runs with what the file says. */
export async function composeDocument (): Promise<any> {
  return parse(await readFile(COMPOSE_FILE, 'utf8'))
}

async function service (name: string): Promise<ComposeService> {
  const compose = await composeDocument() as { services: Record<string, ComposeService> }
  const found = compose.services[name]
  if (found === undefined) throw new Error(`${COMPOSE_FILE} has no service ${name}`)
  return found
}

/** The flags compose gives redis-server: the cache's `command` after its start-up script. */
export async function cacheServerFlags (): Promise<string[]> {
  const { command = [] } = await service('cache')
  const script = command.findIndex((part) => part.endsWith('.sh'))
  if (script === -1) throw new Error(`the cache's command names no start-up script: ${JSON.stringify(command)}`)
  return command.slice(script + 1)
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 }

/** The web service's `stop_grace_period` (a compose duration: `15s`, `1m30s`), in milliseconds. */
export async function webStopGracePeriodMs (): Promise<number> {
  const { stop_grace_period: period } = await service('web')
  if (period === undefined || !/^(\d+(\.\d+)?(h|ms|m|s|us))+$/.test(period)) {
    throw new Error(`web's stop_grace_period is not a compose duration: ${String(period)}`)
  }
  let ms = 0
  for (const [, amount, , unit] of period.matchAll(/(\d+(\.\d+)?)(h|ms|m|s|us)/g)) ms += Number(amount) * UNIT_MS[unit!]!
  return ms
}
